"""The command line: parse arguments, call the core, render. No logic lives here."""
