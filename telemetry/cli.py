"""The ``telemetry`` command line.

Every command accepts ``--config FILE`` and repeated ``--set section.key=value`` (highest precedence);
see ``docs/cli.md``. Errors of the project (bad config, unreadable store, nothing to do) print one clear
line on stderr and exit with status 2; unexpected errors keep their traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telemetry._version import __version__
from telemetry.errors import ConfigError, NothingToDoError, TelemetryError

# Every command imports the modules it runs (the configuration tree, pandas, pyarrow, Dask, LightGBM,
# scikit-learn, fsspec, ...) in its own body: building the parser, --help and --version load none of them
# (tests/test_cli.py keeps it so).
if TYPE_CHECKING:
    from telemetry.config import TelemetryConfig
    from telemetry.importers.csv import EventTable
    from telemetry.io.store import RawObject, Store
    from telemetry.run.pipeline import FeaturesSummary
    from telemetry.stages.extract import ExtractReport
    from telemetry.stages.train import TrainedModel

__all__ = ["main"]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD (got {text!r})") from None


def _date_or_time(text: str) -> dt.date | dt.datetime:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM (got {text!r})"
        ) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer (got {text})")
    return value


def _config(args: argparse.Namespace) -> TelemetryConfig:
    from telemetry.config import load_config

    return load_config(args.config, overrides=[*args.set, *cluster_overrides(args)])


def _print_report(report: ExtractReport, seconds: float, objects: int) -> None:
    mb = report.json_bytes / 1e6
    print(f"robot-days        {objects}")
    print(f"documents in      {report.documents}")
    print(f"  extracted       {report.extracted}")
    print(
        f"  quarantined     {report.quarantined}"
        + (f"  {report.quarantined_by_reason}" if report.quarantined else "")
    )
    print(f"samples           {sum(report.samples.values())}  {report.samples}")
    print(f"duplicates removed {sum(report.duplicates_removed.values())}")
    if report.unknown_signals or report.unknown_fields:
        print(f"unknown (ignored) signals {report.unknown_signals} fields {report.unknown_fields}")
    print(f"seconds           {seconds:.2f}  ({mb:.1f} MB JSON, {mb / max(seconds, 1e-9):.0f} MB/s)")


# ------------------------------------------------------------------------------------------ commands


def cmd_config_show(args: argparse.Namespace) -> int:
    """Print the effective configuration (secrets masked)."""
    import yaml

    from telemetry.config import config_to_dict

    print(yaml.safe_dump(config_to_dict(_config(args)), sort_keys=False), end="")
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    """Print the configuration reference (Markdown)."""
    from telemetry.config import config_reference_markdown

    print(config_reference_markdown(), end="")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write a synthetic fleet's day zips (and ground truth) to a store."""
    from telemetry.io.store import Store
    from telemetry.sim.faults import FaultRates
    from telemetry.sim.fleet import FleetSpec, simulate_fleet

    config = _config(args)
    if args.profile == "cobot":
        return _simulate_cobots(args, config)
    if args.write_config:
        raise ConfigError(
            "--write-config applies to --profile cobot (the AMR fleet matches the built-in configuration)"
        )
    spec = FleetSpec(
        fleet=args.fleet or config.fleet,
        robots=args.robots,
        days=args.days,
        start=args.start,
        seed=args.seed,
        failure_rate=6.0 if args.failure_rate is None else args.failure_rate,
        precursors=not args.no_precursors,
        faults=FaultRates.none() if args.no_faults else FaultRates(),
        hours=args.hours,
    )
    out = Store(args.out, config.store.s3)
    started = time.perf_counter()

    def progress(day: object) -> None:
        print(f"  wrote {day}", file=sys.stderr)

    truth = simulate_fleet(spec, out.write_bytes, progress=progress if args.verbose else None)
    seconds = time.perf_counter() - started
    late = sum(1 for rd in truth.robot_days if rd["late_upload"])
    print(
        f"simulated fleet {spec.fleet}: {spec.robots} robots x {spec.days} days from {spec.start} "
        f"({len(truth.robot_days)} robot-days, {len(truth.failures)} failures, {late} late uploads) "
        f"-> {args.out} in {seconds:.1f} s"
    )
    return 0


def _simulate_cobots(args: argparse.Namespace, config: TelemetryConfig) -> int:
    """``simulate --profile cobot``: dense failures (see docs/simulator.md), and optionally its config."""
    from telemetry.importers.csv import config_yaml
    from telemetry.io.store import Store
    from telemetry.sim.cobot import CobotSpec, cobot_config, simulate_cobots

    if args.failure_rate is not None:
        raise ConfigError("--failure-rate applies to --profile amr (a cobot stops about every 75 s)")
    try:
        spec = CobotSpec(
            fleet=args.fleet or CobotSpec().fleet, robots=args.robots, days=args.days, start=args.start,
            seed=args.seed, hours=args.hours, precursors=not args.no_precursors,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    out = Store(args.out, config.store.s3)
    started = time.perf_counter()

    def progress(day: object) -> None:
        print(f"  wrote {day}", file=sys.stderr)

    failures = simulate_cobots(spec, out.write_bytes, progress=progress if args.verbose else None)
    print(
        f"simulated cobots {spec.fleet}: {spec.robots} robots x {spec.days} days from {spec.start} "
        f"({spec.hours:g} h a day, {len(failures)} stops) -> {args.out} in "
        f"{time.perf_counter() - started:.1f} s"
    )
    if args.write_config:
        Path(args.write_config).write_text(config_yaml(cobot_config(spec.fleet)), encoding="utf-8")
        print(f"config            {args.write_config} (signals, clock, labels, features for dense failures)")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract day zips to per-signal Parquet tables plus quarantine records."""
    from telemetry.io.store import Store
    from telemetry.run.pipeline import run_extract

    config = _config(args)
    raw = Store(args.raw, config.store.s3)
    out = Store(args.out, config.store.s3)
    started = time.perf_counter()

    def progress(obj: RawObject, report: ExtractReport) -> None:
        if args.verbose:
            print(f"  {obj.day}  docs={report.documents} quarantined={report.quarantined}", file=sys.stderr)

    summary = run_extract(
        raw,
        out,
        config,
        fleet=args.fleet,
        start=args.date,
        end=args.end or args.date,
        robots=args.robot or None,
        progress=progress,
    )
    _print_report(summary.report, time.perf_counter() - started, len(summary.objects))
    print(f"outputs           {args.out}/signals/, {args.out}/quarantine/, {args.out}/_extract/")
    for name, error in summary.failed.items():
        print(f"FAILED            {name}: {error}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulate a small fleet, compute its features on a Dask LocalCluster, train and report a model."""
    from telemetry.config import load_config

    root = Path(args.dir).resolve()
    raw_url, out_url = str(root / "raw"), str(root / "out")
    # demo defaults (each can be overridden with --set): fewer negatives, three windows
    overrides = ["labels.negative_fraction=0.2", "features.windows_s=[10,42,300]", *args.set]
    config = load_config(args.config, overrides=overrides)
    start = dt.date(2026, 11, 2)
    print(
        f"telemetry {__version__} demo: {args.robots} robots x {args.days} days "
        f"({args.hours:g} h online a day) into {root}"
    )
    sim = argparse.Namespace(**vars(args))
    sim.__dict__.update(
        out=raw_url,
        start=start,
        seed=7,
        fleet=None,
        failure_rate=args.failure_rate,
        no_precursors=False,
        no_faults=False,
        set=overrides,
        profile="amr",
        write_config=None,
    )
    cmd_simulate(sim)
    print("\nfeatures (extract -> align -> labels -> features on a Dask LocalCluster):")
    run = argparse.Namespace(**vars(args))
    run.__dict__.update(
        start=start, end=start + dt.timedelta(days=args.days - 1), fleet=config.fleet, robot=None
    )
    summary = _run_features(run, config, raw_url, out_url)
    _print_features_summary(summary)
    if summary.failed:
        return 1
    print("\ntrain (time split by day: train, validation, test; LightGBM):")
    fit = argparse.Namespace(
        fleet=config.fleet, start=None, end=None, target=None, valid_start=None, test_start=None,
        distributed=False, verbose=args.verbose,
    )  # fmt: skip
    _train(fit, config, out_url, out_url)
    print(f"\noutputs under {out_url}  (features/, models/, signals/, quarantine/, _lineage/, _runs/)")
    return 0


# ------------------------------------------------------------------------------------------ cluster


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--cluster``, ``--scheduler`` and ``--workers``: shortcuts for ``--set cluster.*``.

    Turn them into overrides with :func:`cluster_overrides` and pass those after ``args.set``.
    """
    group = parser.add_argument_group("cluster", "the Dask cluster (shortcuts for --set cluster.*)")
    group.add_argument(
        "--cluster",
        choices=("local", "address", "kubernetes"),
        help="cluster.kind: local worker processes (default), an existing scheduler, or Kubernetes",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running scheduler, e.g. tcp://10.0.0.5:8786 (implies --cluster address)",
    )
    group.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="cluster.workers: local worker processes or Kubernetes worker pods",
    )


def cluster_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set``-style overrides of :func:`add_cluster_options`' options (empty when none given).

    Raises:
        ConfigError: ``--scheduler`` together with a ``--cluster`` other than ``address``.
    """
    kind, scheduler, workers = (getattr(args, name, None) for name in ("cluster", "scheduler", "workers"))
    overrides = []
    if scheduler is not None:
        if kind not in (None, "address"):
            raise ConfigError(f"--scheduler implies --cluster address (got --cluster {kind})")
        kind = "address"
        overrides.append(f"cluster.address={json.dumps(scheduler)}")  # quoted: always a YAML string
    if kind is not None:
        overrides.append(f"cluster.kind={kind}")
    if workers is not None:
        overrides.append(f"cluster.workers={int(workers)}")
    return overrides


def cmd_cluster_spec(args: argparse.Namespace) -> int:
    """Print the DaskCluster resource that --cluster kubernetes creates (YAML); contacts no cluster."""
    import yaml

    from telemetry.run.cluster import cluster_spec

    print(yaml.safe_dump(cluster_spec(_config(args)), sort_keys=False), end="")
    return 0


# ------------------------------------------------------------------------------------------ features


def _print_features_summary(summary: FeaturesSummary) -> None:
    m = summary.manifest.summary
    rate = m["partitions"] / max(summary.seconds, 1e-9) * 60
    print(f"run               {summary.manifest.run_id}")
    print(
        f"partitions        {m['partitions']}  computed {m['computed']}  "
        f"skipped {m['skipped']}  failed {m['failed']}"
    )
    print(f"documents         {m['documents']}  quarantined {m['quarantined']}")
    print(f"examples          {m['examples']}  positives {m['positives']}")
    print(f"excluded          {m['excluded']}")
    if "units" in m:  # robots missing from the units table have null unit.* features
        missing = m["units_missing"]
        print(
            f"units             {m['units']['url']} ({m['units']['version'][:19]}): {len(missing)} robots "
            f"not in it{' ' + str(missing[:5]) if missing else ''}"
        )
    print(f"seconds           {summary.seconds:.1f}  ({rate:.1f} robot-days/min)")
    for name, error in summary.failed.items():
        print(f"FAILED            {name}: {error}", file=sys.stderr)


def _run_features(
    args: argparse.Namespace, config: TelemetryConfig, raw_url: str, out_url: str
) -> FeaturesSummary:
    from telemetry.io.lineage import load_run
    from telemetry.io.store import Store
    from telemetry.run.cluster import connect, dashboard_url
    from telemetry.run.pipeline import run_features

    raw, out = Store(raw_url, config.store.s3), Store(out_url, config.store.s3)
    as_of = load_run(out, args.as_of) if getattr(args, "as_of", None) else None
    start = args.start
    end = args.end or args.start
    with connect(config) as client:
        url = dashboard_url(client)
        print(f"dashboard         {url or 'none'}", flush=True)

        def progress(done: int, total: int) -> None:
            if sys.stderr.isatty() or args.verbose:
                print(
                    f"\r  tasks {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True
                )

        report = getattr(args, "report", None)
        recording: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if report:
            from distributed import performance_report  # edge: only for --report

            recording = performance_report(filename=report)  # type: ignore[no-untyped-call]
        with recording:
            summary = run_features(
                raw,
                out,
                config,
                fleet=args.fleet,
                start=start,
                end=end,
                robots=args.robot or None,
                client=client,
                as_of=as_of,
                progress=progress,
            )
        if report:
            print(f"performance report {report}")
    return summary


def cmd_features(args: argparse.Namespace) -> int:
    """Features for a fleet and date range on a Dask cluster (incremental; see docs/pipeline.md)."""
    config = _config(args)
    summary = _run_features(args, config, args.raw, args.out)
    _print_features_summary(summary)
    print(
        f"outputs           {args.out}/features/ (lineage: _lineage/, run manifest: {summary.manifest.key()})"
    )
    return 1 if summary.failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the configured stages end to end (``run`` and ``store`` sections; for scheduled jobs)."""
    config = _config(args)
    start, end = config.run.dates()
    print(
        f"telemetry {__version__} run: fleet {config.fleet}, {start}..{end}, stages {list(config.run.stages)}"
    )
    run = argparse.Namespace(**vars(args))
    run.__dict__.update(
        start=start, end=end, fleet=config.fleet, robot=list(config.run.robots) or None, as_of=None
    )
    code = 0
    if "features" in config.run.stages:
        summary = _run_features(run, config, config.store.raw_url, config.store.out_url)
        _print_features_summary(summary)
        code = 1 if summary.failed else 0
    if "train" in config.run.stages or "score" in config.run.stages:
        code = max(code, _run_loop_stages(args, config, start, end))
    return code


def _run_loop_stages(args: argparse.Namespace, config: TelemetryConfig, start: dt.date, end: dt.date) -> int:
    """The train and score stages of `telemetry run` (see telemetry.run.loop); 1 when a day's alerts could
    not be delivered (they are in the store)."""
    from telemetry.io.models import current_model
    from telemetry.io.store import Store
    from telemetry.run.loop import loop_target, score_days, train_span, train_stage

    out = Store(config.store.out_url, config.store.s3)
    say = (lambda m: print(f"  {m}", flush=True)) if args.verbose else None
    code = 0
    if "train" in config.run.stages:
        first, last = train_span(config, end)
        print(f"\ntrain             {first or 'every day'}..{last}, target {loop_target(config)}", flush=True)
        started = time.perf_counter()
        try:
            result = train_stage(out, config, end, progress=say)
        except TelemetryError as exc:  # scoring goes on with the current model
            print(f"FAILED train: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            code = 1
        else:
            if result.skipped:
                print(f"skipped           {result.reason}")
            elif result.model is not None:
                _print_model(result.model, str(result.url))
            else:
                print(f"model             {result.model_id} (already stored, not trained again)")
            if not result.skipped:
                verdict = "promoted to current" if result.promoted else "not promoted"
                print(f"promotion         {verdict}: {result.reason}")
        print(f"seconds           {time.perf_counter() - started:.1f}", flush=True)
    if "score" in config.run.stages:
        print(f"\nscore             {start}..{end}", flush=True)
        if current_model(out) is None:
            print(
                "skipped           no current model (models/current.json): the train stage promotes the first"
            )
            return code
        results = score_days(out, config, start, end, progress=lambda line: print(line, flush=True))
        if not results:
            print(f"score             no feature partitions of fleet {config.fleet} in {start}..{end}")
        else:
            print(f"model             {results[-1].model_id}")
            print(f"alerts            {out.url}/alerts/fleet={config.fleet}/")
        failed = [r for r in results if r.partial]
        for r in failed:
            print(f"PARTIAL {r.date}: alerts stored, not delivered: {r.delivery_error}", file=sys.stderr)
        code = max(code, 1 if failed else 0)
    return code


# ------------------------------------------------------------------------------------------ models


def _print_model(model: TrainedModel, url: str) -> None:
    _print_metrics(model.model_id, model.target, model.metadata, model.metrics, url)


def _print_metrics(
    model_id: str, target: str, metadata: dict[str, Any], metrics: dict[str, Any], url: str
) -> None:
    from telemetry.stages.evaluate import verdict

    test = metrics["test"]
    base = metrics["baselines"]["one_feature"]

    def f(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    print(f"model             {model_id}  (target {target}, {metadata['best_iteration']} trees)")

    def interval(value: object) -> str:
        return f" [{value[0]:.3g}, {value[1]:.3g}]" if isinstance(value, list) else ""

    print(
        f"test              PR-AUC {f(test['pr_auc'])}{interval(test.get('pr_auc_interval'))} "
        f"(prevalence {f(test['prevalence'])}, one feature {f(base['pr_auc'])}"
        f"{interval(base.get('pr_auc_interval'))})  ROC-AUC {f(test['roc_auc'])}"
        f"{interval(test.get('roc_auc_interval'))}  positives {test['n_pos']}  negatives {test['n_neg']}"
    )
    print("                  (intervals: 90 % bootstrap over test robot-days)")
    print(
        f"alerts            threshold {test['threshold']:.4g}: precision {f(test['precision'])}  "
        f"recall {f(test['recall'])}  {f(test['alerts_per_robot_day'])} alerts/robot-day"
    )
    for code, m in metrics["per_mode"].items():
        print(
            f"  {code:<17} PR-AUC {f(m['pr_auc'])}{interval(m.get('pr_auc_interval'))} "
            f"(prevalence {f(m['prevalence'])})  recall {f(m['recall'])}  positives {m['n_pos']}"
        )
    events = test.get("events")
    if events:  # incidents on the test days (train.incident_budget set the threshold)
        lead = (events.get("lead_s") or {}).get("median")
        print(
            f"incidents         {events['incidents']} on the test days "
            f"({f(events['incidents_per_robot_day'])}/robot-day): {events['caught']} of "
            f"{events['failures']} failures caught, median lead "
            f"{f(lead)} s, precision {f(events['precision'])}, {f(events['incidents_per_failure_caught'])} "
            "incidents per failure caught"
        )
        for code, m in events.get("per_code", {}).items():
            code_lead = (m.get("lead_s") or {}).get("median")
            print(f"  {code:<17} caught {m['caught']} of {m['failures']}, median lead {f(code_lead)} s")
    sentence = verdict(metrics)
    if sentence:
        print(f"note              {sentence}")
    print(f"report            {url}/report.html")


def _train(
    args: argparse.Namespace, config: TelemetryConfig, features_url: str, out_url: str
) -> list[TrainedModel]:
    from telemetry.io.registry import read_feature_set, write_model
    from telemetry.io.store import Store
    from telemetry.run.cluster import connect, dashboard_url
    from telemetry.run.train import train_models

    features_store, out = Store(features_url, config.store.s3), Store(out_url, config.store.s3)
    started = time.perf_counter()
    features = read_feature_set(features_store, args.fleet or config.fleet, args.start, args.end)
    rows = len(features.frame)
    print(
        f"features          {len(features.partitions)} robot-days, {rows:,} examples, "
        f"{int(features.frame['label'].sum())} positives ({time.perf_counter() - started:.1f} s to read)",
        flush=True,
    )
    say = (lambda m: print(f"  {m}", flush=True)) if args.verbose else None
    cluster: contextlib.AbstractContextManager[Any] = (
        connect(config) if args.distributed else contextlib.nullcontext()
    )
    with cluster as client:
        if client is not None:
            print(f"dashboard         {dashboard_url(client) or 'none'}", flush=True)
        models = train_models(
            features, config, targets=args.target or None, valid_start=args.valid_start,
            test_start=args.test_start, client=client, progress=say,
            on_skip=lambda target, why: print(f"skipped           {target}: {why}", flush=True),
        )  # fmt: skip
    for model in models:
        url = write_model(out, model)
        _print_model(model, url)
    if models:
        _promote_first(out, models[0].model_id, config.train.promotion)
    print(f"seconds           {time.perf_counter() - started:.1f}")
    return models


def _promote_first(out: Store, model_id: str, rule: str) -> None:
    """`telemetry train` promotes only on a root without a current model (and not with train.promotion
    manual): later models become current through `telemetry run`'s rule or by hand."""
    from telemetry.io.models import current_model, promote

    pointer = current_model(out)
    if pointer is None and rule != "manual":
        promote(out, model_id, reason="first model of this output root (telemetry train)", rule="first")
        print(f"current           {model_id} (the first model of {out.url}; `score` uses it by default)")
        return
    now = f"current is {pointer['model_id']}" if pointer else "no current model (train.promotion is manual)"
    print(f"promote with      telemetry models promote --out {out.url} {model_id}  ({now})")


def cmd_train(args: argparse.Namespace) -> int:
    """Train one LightGBM failure predictor per target on a time split of the feature store."""
    config = _config(args)
    _train(args, config, args.features, args.out or args.features)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Risk per robot and cutoff for new days with a stored model; alerts above its threshold."""
    from telemetry.io.models import load_current_model
    from telemetry.io.registry import load_model, read_feature_set, write_scores
    from telemetry.io.store import Store
    from telemetry.stages.score import failure_catches, score_features

    config = _config(args)
    started = time.perf_counter()
    if args.model and args.models:
        raise ConfigError(
            "give --model (a model folder) or --models (a root whose current model to use), not both"
        )
    if args.model:
        model, which = load_model(args.model, config.store.s3), "--model"
    else:
        models_url = args.models or args.features
        model, which = load_current_model(models_url, config.store.s3), f"current of {models_url}"
    fleet = args.fleet or config.fleet
    features = read_feature_set(Store(args.features, config.store.s3), fleet, args.start, args.end)
    scores = score_features(model, features)
    out = Store(args.out, config.store.s3)
    keys = write_scores(out, model, scores, fleet)
    alerts = int(scores["alert"].sum())
    robot_days = len(features.partitions)
    print(
        f"model             {model.model_id} "
        f"({which}; target {model.metadata['target']}, threshold {model.threshold:.4g})"
    )
    print(f"scored            {len(scores):,} cutoffs of {robot_days} robot-days")
    print(f"alerts            {alerts} ({alerts / max(robot_days, 1):.1f} per robot-day)")
    catches = failure_catches(scores, config.labels.horizon_s)
    if len(catches):
        caught = catches[catches["caught"]]
        lead = caught["lead_s"].median() if len(caught) else float("nan")
        print(
            f"failures          {len(catches)} in these days, {len(caught)} alerted before, "
            f"median lead {lead:.0f} s"
        )
    print(f"outputs           {out.url}/scores/{model.model_id}/ ({len(keys)} files)")
    print(f"seconds           {time.perf_counter() - started:.1f}")
    return 0


def _num(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) and value == value else "-"


def cmd_models_list(args: argparse.Namespace) -> int:
    """The models of an output root, oldest first; the current one marked with *."""
    from telemetry.io.models import list_models
    from telemetry.io.store import Store

    config = _config(args)
    out = Store(args.out, config.store.s3)
    models = list_models(out)
    if models.empty:
        print(f"no models under {out.url}/models/ (train one with `telemetry train --out {out.url}`)")
        return 0
    width = max(len(m) for m in models["model_id"])
    print(
        f"  {'model_id':<{width}}  {'target':<16} {'created (UTC)':<16}  {'trained on days':<22}  "
        "valid PR-AUC  test PR-AUC  threshold  trees"
    )
    created = models["created_at"].dt.strftime("%Y-%m-%d %H:%M").fillna("-")
    for row, when in zip(models.to_dict("records"), created, strict=True):
        days = f"{row['first_day']}..{row['last_day']}" if row["first_day"] is not None else "-"
        print(
            f"{'*' if row['current'] else ' '} {row['model_id']:<{width}}  {row['target']!s:<16} {when:<16}  "
            f"{days:<22}  {_num(row['valid_pr_auc']):>12}  {_num(row['test_pr_auc']):>11}  "
            f"{_num(row['threshold']):>9}  {row['trees']!s:>5}"
        )
    if not models["current"].any():
        print(f"no current model: promote one with `telemetry models promote --out {out.url} MODEL_ID`")
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    """A model's metadata summary, metrics and promotion history (default: the current model)."""
    from telemetry.contract.layout import model_prefix
    from telemetry.io.models import current_model, promotion_history, read_current_model
    from telemetry.io.registry import read_model
    from telemetry.io.store import Store

    config = _config(args)
    out = Store(args.out, config.store.s3)
    model = read_model(out, args.model_id) if args.model_id else read_current_model(out)
    meta = model.metadata
    pointer = current_model(out)
    is_current = pointer is not None and pointer["model_id"] == model.model_id
    url = f"{out.url}/{model_prefix(model.model_id).rstrip('/')}"
    _print_metrics(model.model_id, str(meta["target"]), meta, meta["metrics"], url)
    partitions = meta.get("features_used", {}).get("partitions", [])
    split = meta.get("split", {})
    valid = meta["metrics"].get("valid", {})
    print(f"current           {'yes' if is_current else 'no'}")
    print(f"created           {meta.get('created_at')} (package {meta.get('package_version')})")
    print(f"trained on        {len(partitions)} robot-days of {meta.get('features_used', {}).get('url')}")
    print(
        f"split             validation from {split.get('valid_start')}, test from {split.get('test_start')}"
    )
    print(
        f"validation        PR-AUC {_num(valid.get('pr_auc'))}  ROC-AUC {_num(valid.get('roc_auc'))}  "
        f"positives {valid.get('n_pos')}  (what promotion compares)"
    )
    history = promotion_history(out, model.model_id)
    for line in history:
        print(f"history           {line['at']}  {line['status']:<11} ({line['rule']}) {line['reason']}")
    if not history:
        print("history           never promoted")
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    """Make a model the current one of an output root, by hand (also a rollback)."""
    from telemetry.io.models import current_model, promote
    from telemetry.io.store import Store

    config = _config(args)
    out = Store(args.out, config.store.s3)
    before = current_model(out)
    pointer = promote(out, args.model_id, reason=args.reason)
    if before is not None and before["model_id"] == args.model_id:
        print(f"current           {args.model_id} (already; nothing changed)")
        return 0
    print(f"current           {pointer['model_id']} (previous: {pointer['previous'] or 'none'})")
    print(f"reason            {pointer['reason']}")
    print(f"pointer           {out.url}/models/current.json")
    return 0


def _event_table(text: str) -> EventTable:
    from telemetry.importers.csv import EventTable  # parsing --events: only import-csv gives it

    kind, sep, rest = text.partition("=")
    path, sep2, code = rest.rpartition(":")
    if not sep or not sep2 or not kind or not path or not code:
        raise argparse.ArgumentTypeError(
            f"expected KIND=PATH:CODE_COLUMN, e.g. failure=failures.csv:code (got {text!r})"
        )
    return EventTable(path, kind, code)


def cmd_import_csv(args: argparse.Namespace) -> int:
    """Convert tabular telemetry (CSV) to telemetry.v1 day zips, and write a matching configuration."""
    from telemetry.importers.csv import (
        TabularSpec,
        UnitsReport,
        config_yaml,
        import_csv,
        import_units,
        registry_config,
    )
    from telemetry.io.store import Store

    config = _config(args)
    try:
        spec = TabularSpec(
            fleet=args.fleet or config.fleet, signal=args.signal, time_column=args.time_column,
            unit_column=args.unit_column, unit_from_path=args.unit_from_path, unit_prefix=args.unit_prefix,
            columns=tuple(c for c in (args.columns or "").split(",") if c), label_column=args.label_column,
            label_code=args.label_code, label_delay_s=args.label_delay_s, events=tuple(args.events),
            events_margin_s=args.events_margin_s, sep=args.sep, tz=args.tz,
            envelope_s=args.envelope_s,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    units_id_column = args.units_id_column or args.unit_column
    if args.units_id_column and not args.units:
        raise ConfigError("--units-id-column applies to --units FILE (the units table); give both or neither")
    if args.units and not units_id_column:
        raise ConfigError(
            "--units with --unit-from-path needs --units-id-column (the units table's id column)"
        )
    started = time.perf_counter()
    report = import_csv(args.csv, Store(args.out, config.store.s3), spec)
    print(f"imported          {len(args.csv)} files: {report.units} units, {report.rows:,} rows")
    print(f"fields            {report.fields}")
    if report.left_out:
        print(f"left out columns  {report.left_out}")
    print(
        f"events            {report.events or 'none'} kept (outside the telemetry span, within "
        f"{spec.events_margin_s:g} s: {report.events_in_margin or 'none'})"
    )
    if report.events_left_out:
        print(f"events left out   {report.events_left_out}")
    print(
        f"written           {report.zips} day zips, {report.envelopes:,} envelopes "
        f"({report.event_envelopes:,} with events only), {report.first_day}..{report.last_day}"
    )
    print(f"clock             median step {report.step_ms} ms")
    units: UnitsReport | None = None
    if args.units:
        units = import_units(args.units, Store(args.out, config.store.s3), spec, units_id_column)
        print(
            f"units             {units.units} units -> {units.url}: numeric {units.numeric}, "
            f"categorical {units.categorical}"
        )
    if report.unlabelled_files:
        print(
            f"no label column   {len(report.unlabelled_files)} files (no failures): "
            f"{report.unlabelled_files[:3]}"
        )
    if args.write_config:
        Path(args.write_config).write_text(
            config_yaml(registry_config(spec, report, units)), encoding="utf-8"
        )
        print(
            f"config            {args.write_config} (signals, clock, event features"
            f"{', units' if units else ''}; add labels and windows)"
        )
    print(f"seconds           {time.perf_counter() - started:.1f}")
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    """Show which raw object versions produced a robot-day's features."""
    from telemetry.contract.layout import DayKey, features_key
    from telemetry.io.lineage import read_lineage
    from telemetry.io.store import Store

    config = _config(args)
    out = Store(args.out, config.store.s3)
    day = DayKey(args.fleet or config.fleet, args.date, args.robot)
    lineage = read_lineage(out, day)
    if lineage is None:
        raise NothingToDoError(
            f"no committed features for {day} under {args.out}; run `telemetry features` first"
        )
    print(f"features          {args.out}/{features_key(day)}")
    print(f"computed          {lineage.computed_at} by run {lineage.run_id}")
    print(f"config hash       {lineage.config_hash}   package {lineage.package_version}")
    print(f"fingerprint       {lineage.fingerprint}")
    for key, version, size in lineage.inputs:
        print(f"input             {key}  version {version}  ({size} bytes)")
    return 0


# ------------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate docs/cli.md)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="YAML config file (see docs/configuration.md)")
    common.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one config key, e.g. --set store.s3.endpoint_url=http://127.0.0.1:9000 (repeatable)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="print progress per robot-day")

    parser = argparse.ArgumentParser(
        prog="telemetry", description="Robot-fleet telemetry to failure predictions."
    )
    parser.add_argument("--version", action="version", version=f"telemetry {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config_p = sub.add_parser("config", help="show the effective configuration or its reference")
    config_sub = config_p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser("show", parents=[common], help="print the effective config (secrets masked)")
    show.set_defaults(func=cmd_config_show)
    ref = config_sub.add_parser(
        "reference", parents=[common], help="print the configuration reference (Markdown)"
    )
    ref.set_defaults(func=cmd_config_reference)

    sim = sub.add_parser("simulate", parents=[common], help="write a synthetic fleet's day zips to a store")
    sim.add_argument(
        "--out", required=True, metavar="URL", help="raw root to write (local dir or s3://bucket/prefix)"
    )
    sim.add_argument("--robots", type=_positive_int, default=4, help="number of robots (default 4)")
    sim.add_argument("--days", type=_positive_int, default=1, help="number of UTC days (default 1)")
    sim.add_argument("--start", type=_date, default=dt.date(2026, 11, 2), help="first day YYYY-MM-DD")
    sim.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes (default 0)")
    sim.add_argument(
        "--profile",
        choices=("amr", "cobot"),
        default="amr",
        help="amr: the mobile-robot fleet (default); cobot: robot arms at 1 Hz with a stop every ~75 s",
    )
    sim.add_argument("--fleet", help="fleet name (default: config fleet; cobot-cell for --profile cobot)")
    sim.add_argument(
        "--failure-rate", type=float, default=None, help="amr: expected failures per robot-day (default 6)"
    )
    sim.add_argument(
        "--no-precursors", action="store_true", help="failures at random with no precursor signal"
    )
    sim.add_argument(
        "--no-faults",
        action="store_true",
        help="no duplicates, corrupt members or late uploads (the cobot profile has none anyway)",
    )
    sim.add_argument("--hours", type=float, default=24.0, help="hours simulated per day (default 24)")
    sim.add_argument(
        "--write-config", metavar="FILE", help="cobot: write the matching config (labels for dense failures)"
    )
    sim.set_defaults(func=cmd_simulate)

    ext = sub.add_parser(
        "extract", parents=[common], help="day zips -> per-signal Parquet + quarantine records"
    )
    ext.add_argument("--raw", required=True, metavar="URL", help="raw root (local dir or s3://bucket/prefix)")
    ext.add_argument("--out", required=True, metavar="URL", help="output root")
    ext.add_argument("--date", required=True, type=_date, help="day YYYY-MM-DD (first day with --end)")
    ext.add_argument("--end", type=_date, help="last day, inclusive (default: --date)")
    ext.add_argument("--robot", action="append", help="only this robot (repeatable)")
    ext.add_argument("--fleet", help="only this fleet (default: every fleet under --raw)")
    ext.set_defaults(func=cmd_extract)

    demo = sub.add_parser("demo", parents=[common], help="simulate a small fleet and run the pipeline on it")
    demo.add_argument("--dir", default="demo-data", help="working directory (default ./demo-data)")
    demo.add_argument("--robots", type=_positive_int, default=3, help="robots (default 3)")
    demo.add_argument("--days", type=_positive_int, default=4, help="UTC days, at least 3 (default 4)")
    demo.add_argument("--hours", type=float, default=12.0, help="hours online per day (default 12)")
    demo.add_argument(
        "--failure-rate", type=float, default=24.0, help="failures per robot-day of 24 h (default 24)"
    )
    demo.set_defaults(func=cmd_demo)

    feat = sub.add_parser(
        "features", parents=[common], help="features of a fleet and date range on a Dask cluster"
    )
    feat.add_argument(
        "--raw", required=True, metavar="URL", help="raw root (local dir or s3://bucket/prefix)"
    )
    feat.add_argument("--out", required=True, metavar="URL", help="output root")
    feat.add_argument("--start", required=True, type=_date, help="first day YYYY-MM-DD")
    feat.add_argument("--end", type=_date, help="last day, inclusive (default: --start)")
    feat.add_argument("--fleet", help="only this fleet (default: every fleet under --raw)")
    feat.add_argument("--robot", action="append", help="only this robot (repeatable)")
    feat.add_argument("--as-of", metavar="RUN_ID", help="use exactly the raw versions of a past run")
    feat.add_argument("--report", metavar="HTML", help="write a Dask performance report")
    add_cluster_options(feat)
    feat.set_defaults(func=cmd_features)

    run = sub.add_parser(
        "run", parents=[common], help="run the configured stages (store, run sections) end to end"
    )
    run.add_argument("--report", metavar="HTML", help="write a Dask performance report")
    add_cluster_options(run)
    run.set_defaults(func=cmd_run)

    lin = sub.add_parser(
        "lineage", parents=[common], help="which raw versions produced a robot-day's features"
    )
    lin.add_argument("--out", required=True, metavar="URL", help="output root")
    lin.add_argument("--date", required=True, type=_date, help="day YYYY-MM-DD")
    lin.add_argument("--robot", required=True, help="robot id")
    lin.add_argument("--fleet", help="fleet (default: config fleet)")
    lin.set_defaults(func=cmd_lineage)

    tr = sub.add_parser(
        "train", parents=[common], help="train LightGBM failure predictors on a time split of the features"
    )
    tr.add_argument(
        "--features", required=True, metavar="URL", help="root holding features/ (an output root)"
    )
    tr.add_argument(
        "--out", metavar="URL",
        help="root to write models/ under (default: --features); on a root without a current model the first "
        "model becomes current (later ones: `telemetry models promote` or `telemetry run`)",
    )  # fmt: skip
    tr.add_argument("--start", type=_date, help="first day YYYY-MM-DD (default: every day)")
    tr.add_argument("--end", type=_date, help="last day, inclusive (default: every day)")
    tr.add_argument("--fleet", help="fleet (default: config fleet)")
    tr.add_argument(
        "--target", action="append", help="'any' or a failure code (repeatable; default: train.targets)"
    )
    tr.add_argument(
        "--valid-start",
        type=_date_or_time,
        help="first validation day or UTC time (default: train.valid_fraction)",
    )
    tr.add_argument(
        "--test-start", type=_date_or_time, help="first test day or UTC time (default: train.test_fraction)"
    )
    tr.add_argument(
        "--distributed", action="store_true", help="boost on the Dask cluster's workers (lightgbm.dask)"
    )
    add_cluster_options(tr)
    tr.set_defaults(func=cmd_train)

    sc = sub.add_parser("score", parents=[common], help="risk and alerts for new days with a stored model")
    sc.add_argument(
        "--model", metavar="URL",
        help="a model folder: <root>/models/<model_id> (default: the current model of --models)",
    )  # fmt: skip
    sc.add_argument("--features", required=True, metavar="URL", help="root holding features/ of the days")
    sc.add_argument(
        "--models", metavar="URL",
        help="root holding models/ (where `train --out` wrote them) whose models/current.json names the "
        "model to use (default: --features)",
    )  # fmt: skip
    sc.add_argument("--out", required=True, metavar="URL", help="root to write scores/<model_id>/ under")
    sc.add_argument("--start", type=_date, help="first day YYYY-MM-DD (default: every day)")
    sc.add_argument("--end", type=_date, help="last day, inclusive (default: every day)")
    sc.add_argument("--fleet", help="fleet (default: config fleet)")
    sc.set_defaults(func=cmd_score)

    mod = sub.add_parser("models", help="list, show and promote the models of an output root")
    mod_sub = mod.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    mod_list = mod_sub.add_parser(
        "list", parents=[common], help="the models under <out>/models/, oldest first (* current)"
    )
    mod_list.add_argument("--out", required=True, metavar="URL", help="root holding models/")
    mod_list.set_defaults(func=cmd_models_list)
    mod_show = mod_sub.add_parser(
        "show", parents=[common], help="a model's metadata, metrics and promotion history"
    )
    mod_show.add_argument("--out", required=True, metavar="URL", help="root holding models/")
    mod_show.add_argument(
        "model_id", nargs="?", metavar="MODEL_ID", help="a model id (default: the current model)"
    )
    mod_show.set_defaults(func=cmd_models_show)
    mod_promote = mod_sub.add_parser(
        "promote",
        parents=[common],
        help="make a model current by hand (models/current.json; also a rollback)",
    )
    mod_promote.add_argument("--out", required=True, metavar="URL", help="root holding models/")
    mod_promote.add_argument("model_id", metavar="MODEL_ID", help="the model to make current")
    mod_promote.add_argument(
        "--reason", default="promoted by hand (telemetry models promote)", help="recorded in the history"
    )
    mod_promote.set_defaults(func=cmd_models_promote)

    imp = sub.add_parser(
        "import-csv", parents=[common], help="tabular telemetry (CSV) -> telemetry.v1 day zips"
    )
    imp.add_argument("csv", nargs="+", help="CSV files (.csv or .csv.gz)")
    imp.add_argument("--out", required=True, metavar="URL", help="raw root to write day zips to")
    imp.add_argument("--fleet", help="fleet name (default: config fleet)")
    imp.add_argument(
        "--signal", default="sensors", help="signal name of the imported columns (default sensors)"
    )
    imp.add_argument("--time-column", required=True, help="column with the sample time")
    unit = imp.add_mutually_exclusive_group(required=True)
    unit.add_argument("--unit-column", help="column with the unit (robot, machine) id")
    unit.add_argument("--unit-from-path", action="store_true", help="one unit per file: <dir>-<file stem>")
    imp.add_argument("--unit-prefix", default="", help="prefix of unit ids, e.g. machine- (default none)")
    imp.add_argument(
        "--columns",
        help="comma-separated signal columns (default: every other numeric or boolean column but row "
        "counters and, with --label-column, label-like columns)",
    )
    imp.add_argument(
        "--label-column", help="0/1 or true/false column: each run of 1 starts with a failure event"
    )
    imp.add_argument("--label-code", default="ANOMALY", help="failure code of label-column events")
    imp.add_argument(
        "--label-delay-s", type=float, default=0.0,
        help="failure event this long after each label onset: detect within D s (default 0)",
    )  # fmt: skip
    imp.add_argument(
        "--events", action="append", type=_event_table, default=[], metavar="KIND=PATH:CODE_COLUMN",
        help="an event table of one kind, e.g. failure=failures.csv:failure (repeatable)",
    )  # fmt: skip
    imp.add_argument(
        "--events-margin-s", type=float, default=86_400.0,
        help="keep events up to this long before a unit's first row and after its last (default 86400)",
    )  # fmt: skip
    imp.add_argument("--sep", default=",", help="CSV separator (default ,)")
    imp.add_argument("--tz", default="UTC", help="time zone of naive times (default UTC)")
    imp.add_argument("--envelope-s", type=float, default=5.0, help="seconds of samples per envelope")
    imp.add_argument(
        "--units", metavar="FILE",
        help="a units table CSV (one row per unit: model, age, ...) -> <out>/units/<fleet>.parquet, "
        "joined by unit id as unit.<column> features",
    )  # fmt: skip
    imp.add_argument(
        "--units-id-column", metavar="C", help="the units table's unit id column (default: --unit-column)"
    )
    imp.add_argument("--write-config", metavar="FILE", help="write a config for the imported data")
    imp.set_defaults(func=cmd_import_csv)

    spec = sub.add_parser(
        "cluster-spec", parents=[common], help="print the DaskCluster of --cluster kubernetes"
    )
    spec.set_defaults(func=cmd_cluster_spec)
    return parser


def cli_reference_markdown() -> str:
    """``docs/cli.md``: every command's ``--help``, generated from the parser (a test checks for drift)."""
    import os

    parser = build_parser()
    parts = [
        "# Command-line reference\n\n",
        'Generated from the parser by `python -c "from telemetry.cli import cli_reference_markdown as r; '
        "print(r(), end='')\" > docs/cli.md`; `tests/test_cli.py` fails when it drifts. Every command also "
        "takes `--config FILE` and repeated `--set section.key=value` "
        "(see [configuration.md](configuration.md)); "
        "exit status 0 on success, 1 when some partitions failed, 2 on errors of input or configuration. "
        "`--help` and `--version` answer without importing the libraries the commands run (pandas, Dask, "
        "LightGBM, ...): see [development.md](development.md#start-up-time) for the measured times.\n",
    ]
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps help at the terminal width: fix it
    try:
        parts.append(f"\n## `telemetry`\n\n```text\n{parser.format_help()}```\n")
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, command in sub.choices.items():
            nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
            commands = [(name, command)] + [(f"{name} {n}", c) for a in nested for n, c in a.choices.items()]
            for title, cmd in commands:
                parts.append(f"\n## `telemetry {title}`\n\n```text\n{cmd.format_help()}```\n")
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "".join(parts)


class _Stopped(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every ``with`` block unwinds."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


_INTERRUPTIBLE = {cmd_features, cmd_run, cmd_extract, cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``telemetry`` console script.

    Exit status: 0 done, 1 some partitions failed (the others are committed), 2 a project error (bad
    configuration, nothing to read, output root in use by another run), 128 + signal number when
    interrupted by SIGINT (130) or SIGTERM (143): committed partitions stay, nothing half-written is
    visible, and a re-run does only the missing work.
    """
    args = build_parser().parse_args(argv)
    previous = None
    if args.func in _INTERRUPTIBLE:
        with contextlib.suppress(ValueError):  # not the main thread (tests): keep the default
            previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        code: int = args.func(args)
    except TelemetryError as exc:
        print(f"telemetry: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, _Stopped) as exc:
        signum = exc.signum if isinstance(exc, _Stopped) else signal.SIGINT
        name = signal.Signals(signum).name
        print(
            f"telemetry: interrupted by {name}: committed partitions are kept and nothing half-written is "
            "visible; run the same command again to do the rest",
            file=sys.stderr,
        )
        return 128 + signum
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return code


if __name__ == "__main__":
    sys.exit(main())
