"""The installed genlift version, recorded in every artifact and run."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genlift")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
