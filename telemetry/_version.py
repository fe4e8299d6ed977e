"""The installed package version (recorded in lineage and model metadata)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("telemetry")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
