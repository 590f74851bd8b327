"""warpcli: provision and operate network connectors (see README.md)."""

__version__ = "0.1.0"
