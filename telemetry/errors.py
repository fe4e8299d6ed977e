"""Exception hierarchy.

Every exception takes a single message argument so that it pickles cleanly when raised on a Dask worker
and re-raised on the client. Messages say what was expected, what was found, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "AlertDeliveryError",
    "ConfigError",
    "DataContractError",
    "LeaseLostError",
    "LockedError",
    "ModelError",
    "NothingToDoError",
    "StoreError",
    "TelemetryError",
    "TransientStoreError",
    "VersionNotFoundError",
]


class TelemetryError(Exception):
    """Base class of every error raised by `telemetry`."""


class ConfigError(TelemetryError, ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


class StoreError(TelemetryError, OSError):
    """An object store could not be listed, read or written."""


class TransientStoreError(StoreError):
    """A store operation failed for a reason worth retrying (connection, timeout, throttling, HTTP 5xx)."""


class VersionNotFoundError(StoreError):
    """A pinned `(key, version)` is not (or no longer) readable from the store."""


class DataContractError(TelemetryError, ValueError):
    """Input data violates the `telemetry.v1` contract in a way that cannot be quarantined."""


class NothingToDoError(TelemetryError):
    """A command found no input at all (wrong URL, fleet or date range)."""


class ModelError(TelemetryError):
    """A model cannot be trained, loaded or applied (no positives to learn from, feature spec mismatch,
    distributed training that timed out)."""


class LockedError(TelemetryError):
    """Another live run holds the output root's lease (two runs must not write one output root at once)."""


class LeaseLostError(TelemetryError):
    """This run's lease on the output root expired and another run took it over; this run stopped."""


class AlertDeliveryError(TelemetryError):
    """The alert webhook did not accept a day's alerts after the configured retries (or refused them with a
    4xx). The alerts stay in the store; a re-run sends those not delivered yet. The message names the webhook
    as ``scheme://host[:port]/***`` only."""
