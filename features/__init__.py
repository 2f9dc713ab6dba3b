"""Data layer of genlift: the DuckDB store, table contracts and validation, dataset
loaders and feature builders. Imports nothing from the other genlift packages."""

from features.errors import DataValidationError, GenliftWarning
from features.version import __version__

__all__ = ["DataValidationError", "GenliftWarning", "__version__"]
