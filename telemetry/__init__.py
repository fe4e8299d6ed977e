"""telemetry: robot-fleet telemetry to failure predictions.

The public API is what ``__all__`` lists; everything else is internal. ``docs/api.md`` walks through it
with examples that the tests execute. The names, in data-flow order (configuration, raw data, the pure
stages, fleet runs, outputs, models, the deployed loop, data sources), and the module each comes from are
the one table ``_EXPORTS`` below: ``__all__``, ``dir(telemetry)`` and the lazy attribute lookup are derived
from it.

Every name is imported on first use, so ``import telemetry`` loads neither pandas nor Dask, LightGBM,
fsspec or matplotlib (Dask workers import the package to unpickle tasks; the command line starts fast).
:func:`align_signals` is ``telemetry.stages.align.align``, exported under this name so that the module
``telemetry.stages.align`` stays a module.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# LightGBM's OpenMP threads spin while they wait for work by default: on a machine whose cores are shared
# (a busy VM, a Kubernetes node, a Dask worker next to others) the spinning threads take the cores from the
# ones with work and training runs several times slower; passive waiting gives the same model bytes. It must
# be set before the OpenMP runtime loads (with LightGBM), hence here; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# name -> "module" (the name is an attribute of that module) or "module:attribute" (exported renamed)
_EXPORTS: dict[str, str] = {
    "__version__": "telemetry._version",
    # configuration (file < environment < overrides) and errors
    "load_config": "telemetry.config",
    "TelemetryConfig": "telemetry.config",
    "SignalSpec": "telemetry.config",
    "Secret": "telemetry.config",
    "TelemetryError": "telemetry.errors",
    "ConfigError": "telemetry.errors",
    "DataContractError": "telemetry.errors",
    "StoreError": "telemetry.errors",
    "VersionNotFoundError": "telemetry.errors",
    "NothingToDoError": "telemetry.errors",
    "ModelError": "telemetry.errors",
    # raw data: the store, its robot-days and versions, one robot's samples
    "DayKey": "telemetry.contract.layout",
    "Store": "telemetry.io.store",
    "RawObject": "telemetry.io.store",
    "open_store": "telemetry.api",
    "list_robot_days": "telemetry.api",
    "list_versions": "telemetry.api",
    "read_signals": "telemetry.api",
    "to_epoch_ms": "telemetry.api",
    # stages (pure functions): extract, the nearest-time join, cutoffs and labels, features
    "extract_day_zip": "telemetry.stages.extract",
    "Extraction": "telemetry.stages.extract",
    "ExtractReport": "telemetry.stages.extract",
    "QuarantineRecord": "telemetry.stages.extract",
    "align_signals": "telemetry.stages.align:align",
    "Aligned": "telemetry.stages.align",
    "make_examples": "telemetry.stages.labels",
    "ExampleSet": "telemetry.stages.labels",
    "build_features": "telemetry.stages.features",
    "feature_names": "telemetry.stages.features",
    "parse_feature_name": "telemetry.stages.features",
    "FeatureName": "telemetry.stages.features",
    # fleet runs (LocalCluster, a scheduler address or Kubernetes)
    "robot_features": "telemetry.run.pipeline",
    "RobotFeatures": "telemetry.run.pipeline",
    "run_features": "telemetry.run.pipeline",
    "run_extract": "telemetry.run.pipeline",
    "FeaturesSummary": "telemetry.run.pipeline",
    "connect": "telemetry.run.cluster",
    "dashboard_url": "telemetry.run.cluster",
    "cluster_spec": "telemetry.run.cluster",
    # outputs
    "read_features": "telemetry.api",
    "read_extraction_reports": "telemetry.api",
    "read_quarantine": "telemetry.api",
    # models
    "FeatureSet": "telemetry.stages.train",
    "train_models": "telemetry.run.train",
    "TrainedModel": "telemetry.stages.train",
    "write_model": "telemetry.io.registry",
    "load_model": "telemetry.io.registry",
    "Model": "telemetry.stages.score",
    "score_features": "telemetry.stages.score",
    "failure_catches": "telemetry.stages.score",
    # the deployed loop: train and promote, score days into incidents and alerts, event-level figures
    "train_stage": "telemetry.run.loop",
    "score_days": "telemetry.run.loop",
    "DayScore": "telemetry.run.loop",
    "TrainResult": "telemetry.run.loop",
    "incidents": "telemetry.stages.incidents",
    "event_metrics": "telemetry.stages.incidents",
    "incident_threshold": "telemetry.stages.incidents",
    "read_alerts": "telemetry.io.alerts",
    "current_model": "telemetry.io.models",
    "list_models": "telemetry.io.models",
    "promote": "telemetry.io.models",
    "promotion_history": "telemetry.io.models",
    "AlertDeliveryError": "telemetry.errors",
    # data sources: a synthetic fleet, tabular (CSV) telemetry
    "simulate_fleet": "telemetry.sim.fleet",
    "FleetSpec": "telemetry.sim.fleet",
    "FaultRates": "telemetry.sim.faults",
    "GroundTruth": "telemetry.sim.fleet",
    "import_csv": "telemetry.importers.csv",
    "TabularSpec": "telemetry.importers.csv",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """The exported ``name``, imported from its module on first use (then cached in the package)."""
    source = _EXPORTS.get(name)
    if source is None:
        raise AttributeError(f"module 'telemetry' has no attribute {name!r}")
    module, _, attribute = source.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
