"""Logos: the pure domain kernel shared by backtests, the in-process runner and every service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("logos")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
