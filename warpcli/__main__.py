from warpcli.cli.app import main

main()
