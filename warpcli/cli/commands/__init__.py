"""One module per top-level command word, named as the command (`warpcli route` -> route.py, `warpcli routes` -> routes.py; up/down/status -> lifecycle.py)."""
