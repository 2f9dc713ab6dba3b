"""Generators of synthetic users, baskets and price paths, with their quality and
privacy scorecards. Imports from features only."""
