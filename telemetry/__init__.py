"""telemetry: robot-fleet telemetry to failure predictions.

The public API is what ``__all__`` lists; everything else is internal. ``docs/api.md`` walks through it
with examples that the tests execute. In data-flow order:

- configuration: :func:`load_config` (file < environment < overrides), :class:`TelemetryConfig`;
- raw data: :class:`Store`, :func:`open_store`, :func:`list_robot_days`, :func:`list_versions`,
  :func:`read_signals` (one robot's samples for a time span, per signal), :func:`extract_day_zip`;
- stages (pure functions): :func:`align_signals` (the nearest-time join; it is
  ``telemetry.stages.align.align``, exported under this name so that the module ``telemetry.stages.align``
  stays a
  module), :func:`make_examples` (cutoffs, labels, exclusions), :func:`build_features`,
  :func:`robot_features` (all three for one robot and span), :func:`feature_names`,
  :func:`parse_feature_name`;
- fleet runs: :func:`run_features`, :func:`run_extract`, :func:`connect` (LocalCluster, scheduler address
  or Kubernetes), :func:`dashboard_url`, :func:`cluster_spec`;
- outputs: :func:`read_features` (pandas, or Dask with ``lazy=True``), :func:`read_extraction_reports`,
  :func:`read_quarantine`;
- models: :func:`train_models`, :func:`write_model`, :func:`load_model`, :func:`score_features`,
  :func:`failure_catches`;
- data: :class:`FleetSpec`, :func:`simulate_fleet` (a synthetic fleet), :func:`import_csv`.

Modules that need Dask, LightGBM, fsspec or matplotlib are imported on first use of one of their names, so
``import telemetry`` stays cheap (Dask workers import it to unpickle tasks).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from telemetry._version import __version__
from telemetry.config import Secret, SignalSpec, TelemetryConfig, load_config
from telemetry.contract.layout import DayKey
from telemetry.errors import (
    ConfigError,
    DataContractError,
    ModelError,
    NothingToDoError,
    StoreError,
    TelemetryError,
    VersionNotFoundError,
)
from telemetry.stages.align import Aligned
from telemetry.stages.align import align as align_signals
from telemetry.stages.extract import Extraction, ExtractReport, QuarantineRecord, extract_day_zip
from telemetry.stages.features import FeatureName, build_features, feature_names, parse_feature_name
from telemetry.stages.labels import ExampleSet, make_examples

if TYPE_CHECKING:
    from telemetry.api import (
        list_robot_days,
        list_versions,
        open_store,
        read_extraction_reports,
        read_features,
        read_quarantine,
        read_signals,
        to_epoch_ms,
    )
    from telemetry.importers.csv import TabularSpec, import_csv
    from telemetry.io.registry import (
        FeatureSet,
        Model,
        TrainedModel,
        failure_catches,
        load_model,
        score_features,
        train_models,
        write_model,
    )
    from telemetry.io.store import RawObject, Store
    from telemetry.run.cluster import cluster_spec, connect, dashboard_url
    from telemetry.run.pipeline import (
        FeaturesSummary,
        RobotFeatures,
        robot_features,
        run_extract,
        run_features,
    )
    from telemetry.sim.fleet import FaultRates, FleetSpec, GroundTruth, simulate_fleet

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        (
            "list_robot_days",
            "list_versions",
            "open_store",
            "read_extraction_reports",
            "read_features",
            "read_quarantine",
            "read_signals",
            "to_epoch_ms",
        ),
        "telemetry.api",
    ),
    **dict.fromkeys(("cluster_spec", "connect", "dashboard_url"), "telemetry.run.cluster"),
    **dict.fromkeys(
        (
            "FeatureSet",
            "Model",
            "TrainedModel",
            "failure_catches",
            "load_model",
            "score_features",
            "train_models",
            "write_model",
        ),
        "telemetry.io.registry",
    ),
    **dict.fromkeys(
        ("FeaturesSummary", "RobotFeatures", "robot_features", "run_extract", "run_features"),
        "telemetry.run.pipeline",
    ),
    **dict.fromkeys(("FaultRates", "FleetSpec", "GroundTruth", "simulate_fleet"), "telemetry.sim.fleet"),
    **dict.fromkeys(("RawObject", "Store"), "telemetry.io.store"),
    **dict.fromkeys(("TabularSpec", "import_csv"), "telemetry.importers.csv"),
}

__all__ = [
    "Aligned",
    "ConfigError",
    "DataContractError",
    "DayKey",
    "ExampleSet",
    "ExtractReport",
    "Extraction",
    "FaultRates",
    "FeatureName",
    "FeatureSet",
    "FeaturesSummary",
    "FleetSpec",
    "GroundTruth",
    "Model",
    "ModelError",
    "NothingToDoError",
    "QuarantineRecord",
    "RawObject",
    "RobotFeatures",
    "Secret",
    "SignalSpec",
    "Store",
    "StoreError",
    "TabularSpec",
    "TelemetryConfig",
    "TelemetryError",
    "TrainedModel",
    "VersionNotFoundError",
    "__version__",
    "align_signals",
    "build_features",
    "cluster_spec",
    "connect",
    "dashboard_url",
    "extract_day_zip",
    "failure_catches",
    "feature_names",
    "import_csv",
    "list_robot_days",
    "list_versions",
    "load_config",
    "load_model",
    "make_examples",
    "open_store",
    "parse_feature_name",
    "read_extraction_reports",
    "read_features",
    "read_quarantine",
    "read_signals",
    "robot_features",
    "run_extract",
    "run_features",
    "score_features",
    "simulate_fleet",
    "to_epoch_ms",
    "train_models",
    "write_model",
]


def __getattr__(name: str) -> Any:
    """Import the module of a lazily exported name on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'telemetry' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
