"""telemetry: robot-fleet telemetry to failure predictions.

The public API is what ``__all__`` lists; everything else is internal.
"""

from __future__ import annotations

from telemetry._version import __version__
from telemetry.config import Secret, SignalSpec, TelemetryConfig, load_config
from telemetry.contract import DayKey
from telemetry.errors import (
    ConfigError,
    DataContractError,
    NothingToDoError,
    StoreError,
    TelemetryError,
    VersionNotFoundError,
)
from telemetry.extract import Extraction, ExtractReport, QuarantineRecord, extract_day_zip

__all__ = [
    "ConfigError",
    "DataContractError",
    "DayKey",
    "ExtractReport",
    "Extraction",
    "NothingToDoError",
    "QuarantineRecord",
    "Secret",
    "SignalSpec",
    "StoreError",
    "TelemetryConfig",
    "TelemetryError",
    "VersionNotFoundError",
    "__version__",
    "extract_day_zip",
    "load_config",
]
