"""The warpcli library: model, CIDR math, the controller interface.

Nothing under ``warpcli.core`` imports Typer, Rich, requests, pyroute2 or keyring,
so it can be used as a library and imported fast.
"""
