"""Attacks on warpcli as real processes (issue 17): a served controller under slow and hostile clients."""
