"""The straightforward baseline of the validation (docs/validation.md): pandas + LightGBM, the product's rows.

What a competent analyst writes in an afternoon, to tell whether the product's features and model earn their
keep. It takes from the product only its **example rows** (``robot_id``, ``cutoff``, ``label``, ``weight``,
``failure_code`` of the feature partitions under ``<out>/features/``) and its **split** (the model's
``metadata.json``: ``split.valid_start``, ``split.test_start`` and the purge ``split.purge_s``), so both are
scored on exactly the same test rows. Everything else is computed here from the original CSVs:

- per unit and window length ``W`` (the product's ``features.windows_s``) and numeric column: mean, std,
  min, max and last of the rows with time in ``[cutoff - W, cutoff)`` (rolling windows closed on the left,
  evaluated at probe rows inserted at the cutoffs: the row at the cutoff itself never counts);
- Azure PdM (what the published baseline uses): error counts per error code over ``[cutoff - 24 h, cutoff)``,
  days since the last maintenance or failure of each component (events with time ``< cutoff``, from the
  complete tables, so up to months before the telemetry starts), the machine's model and age
  (``PdM_machines.csv``).

LightGBM (sklearn API, fixed ``ROUNDS`` rounds, default parameters otherwise, nothing tuned on the test rows)
is trained on the train rows (cutoff ``< valid_start``, and ``cutoff + horizon < valid_start``: the product's
purge) and scored on the test rows (cutoff ``>= test_start``); validation rows are not used. PR-AUC and
ROC-AUC get the product's 90 % bootstrap intervals over robot-days
(:func:`telemetry.stages.evaluate.bootstrap_intervals`), and, when the product's model can score the same
rows, the paired interval of ``product - baseline``.

    python -m benchmarks.baseline_pandas --dataset skab --data DIR --out FEATURES_OUT --model MODEL_DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import average_precision_score, roc_auc_score

from telemetry.stages.evaluate import bootstrap_intervals, robot_day_groups

ROUNDS = 300
STATS = ("mean", "std", "min", "max")
DAY_MS = 86_400_000
AZURE_TELEMETRY = "PdM_telemetry_SUBSET_machines1-20_2015-01-01_to_2015-04-01.csv.gz"
EXAMPLE_COLUMNS = ["robot_id", "cutoff", "label", "weight", "failure_code"]


def epoch_ms(values: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Epoch milliseconds UTC of naive (= UTC) time strings, as the importer reads them."""
    return pd.to_datetime(values, format="mixed").to_numpy(dtype="datetime64[ms]").astype(np.int64)


def product_examples(out: Path) -> pd.DataFrame:
    """The product's example rows (no feature column) of every partition under ``<out>/features/``."""
    files = sorted(glob.glob(str(out / "features" / "fleet=*" / "date=*" / "*.parquet")))
    if not files:
        raise SystemExit(f"no feature partitions under {out}/features/; run `telemetry features` first")
    frames: list[pd.DataFrame] = [pq.read_table(f, columns=EXAMPLE_COLUMNS).to_pandas() for f in files]
    return pd.concat(frames, ignore_index=True)


def sensor_rows(dataset: str, data: Path) -> pd.DataFrame:
    """The original telemetry rows: ``unit``, ``time`` (epoch ms), then one column per numeric field."""
    if dataset == "skab":
        frames = []
        for path in sorted(glob.glob(str(data / "skab" / "*" / "*.csv"))):
            p = Path(path)
            df = pd.read_csv(p, sep=";").drop(columns=["anomaly", "changepoint"], errors="ignore")
            frames.append(df.assign(unit=f"{p.parent.name}-{p.name.split('.')[0]}"))
        rows = pd.concat(frames, ignore_index=True)
    else:
        rows = pd.read_csv(data / "azure_pdm" / AZURE_TELEMETRY)
        rows["unit"] = "machine-" + rows.pop("machineID").astype(str)
    rows["time"] = epoch_ms(rows.pop("datetime"))
    rows.columns = [str(c).replace(" ", "_") for c in rows.columns]
    return rows.sort_values(["unit", "time"], kind="stable", ignore_index=True)


def window_features(rows: pd.DataFrame, probes: pd.DataFrame, windows_s: list[int]) -> pd.DataFrame:
    """Per probe (``unit``, ``time`` = cutoff): mean/std/min/max/last of every field over the unit's rows with
    time in ``[cutoff - W, cutoff)`` for each ``W``, in the order of `probes`."""
    fields = [c for c in rows.columns if c not in ("unit", "time")]
    rows, probes = rows.astype({"unit": str}), probes.astype({"unit": str})
    marked = pd.concat([rows.assign(probe=-1), probes[["unit", "time"]].assign(probe=np.arange(len(probes)))])
    marked = marked.sort_values(["unit", "time", "probe"], kind="stable", ignore_index=True)
    marked["ts"] = pd.to_datetime(marked["time"], unit="ms")
    at_probe = marked["probe"].to_numpy() >= 0
    order = np.argsort(marked["probe"].to_numpy()[at_probe], kind="stable")
    out = {}
    for w in windows_s:
        # closed="left": the window of a probe is [cutoff - W, cutoff); probes hold NaN, which rolling skips
        rolled = marked.groupby("unit", sort=True).rolling(f"{w}s", on="ts", closed="left")[fields]
        for stat in STATS:
            values = getattr(rolled, stat)()[fields].to_numpy()[at_probe][order]
            for j, f in enumerate(fields):
                out[f"{f}__{stat}__w{w}s"] = values[:, j]
    last = pd.merge_asof(
        probes[["unit", "time"]].reset_index(names="probe").sort_values("time"),
        rows.assign(row_time=rows["time"]).sort_values("time"),
        on="time", by="unit", allow_exact_matches=False, direction="backward",
    ).sort_values("probe")  # fmt: skip
    for w in windows_s:
        inside = (last["time"] - last["row_time"] <= w * 1000).to_numpy()
        for f in fields:
            out[f"{f}__last__w{w}s"] = np.where(inside, last[f].to_numpy(dtype=float), np.nan)
    return pd.DataFrame(out, index=probes.index)


def azure_history_features(data: Path, probes: pd.DataFrame) -> pd.DataFrame:
    """Per probe: error counts per code in ``[cutoff - 24 h, cutoff)``, days since the last maintenance or
    failure of each component (events ``< cutoff``; NaN when none), machine model and age."""
    d = data / "azure_pdm"
    read = {n: pd.read_csv(d / f"PdM_{n}.csv.gz") for n in ("errors", "maint", "failures", "machines")}
    unit = probes["unit"].to_numpy()
    cutoff = probes["time"].to_numpy()
    out: dict[str, Any] = {}

    def times_of(table: pd.DataFrame, column: str, code: str) -> dict[str, np.ndarray[Any, Any]]:
        sel = table[table[column] == code]
        ms = epoch_ms(sel["datetime"])
        units = ("machine-" + sel["machineID"].astype(str)).to_numpy()
        return {u: np.sort(ms[units == u]) for u in np.unique(units)}

    for code in sorted(read["errors"]["errorID"].unique()):
        by_unit = times_of(read["errors"], "errorID", code)
        out[f"errors_{code}__count__w86400s"] = [
            np.searchsorted(t := by_unit.get(u, np.empty(0)), c, "left")
            - np.searchsorted(t, c - DAY_MS, "left")
            for u, c in zip(unit, cutoff, strict=True)
        ]
    replaced = pd.concat([read["maint"], read["failures"].rename(columns={"failure": "comp"})])
    for comp in sorted(replaced["comp"].unique()):
        by_unit = times_of(replaced, "comp", comp)
        since = []
        for u, c in zip(unit, cutoff, strict=True):
            t = by_unit.get(u, np.empty(0))
            i = np.searchsorted(t, c, "left")  # events strictly before the cutoff
            since.append((c - t[i - 1]) / DAY_MS if i else np.nan)
        out[f"{comp}__days_since_replacement"] = since
    machines = read["machines"].assign(unit="machine-" + read["machines"]["machineID"].astype(str))
    static = probes[["unit"]].merge(machines[["unit", "model", "age"]], on="unit", how="left")
    out["model"] = pd.Categorical(static["model"].to_numpy())
    out["age"] = static["age"].to_numpy(dtype=float)
    return pd.DataFrame(out, index=probes.index)


def _instant_ms(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def product_test_risk(model_dir: Path, out: Path, fleet: str) -> pd.DataFrame:
    """The stored product model's risk (``robot_id``, ``cutoff``, ``risk``) for every row under `out`."""
    import telemetry  # public API only: load the stored model and score the same feature partitions

    model = telemetry.load_model(str(model_dir))
    scores = telemetry.score_features(model, telemetry.read_features(str(out), fleet))
    return scores[["robot_id", "cutoff", "risk"]]


def baseline_result(
    dataset: str, data: Path, out: Path, model_dir: Path, *, rounds: int = ROUNDS
) -> dict[str, Any]:
    """Train and evaluate the baseline on the rows and split of the product model in `model_dir` (see the
    module docstring); returns its figures (JSON-ready)."""
    if dataset not in ("skab", "azure"):
        raise ValueError(f"dataset must be 'skab' or 'azure' (got {dataset!r})")
    started = time.perf_counter()
    meta = json.loads((model_dir / "metadata.json").read_text())
    split, windows = meta["split"], [int(w) for w in meta["feature_config"]["features"]["windows_s"]]
    valid_ms, test_ms = _instant_ms(split["valid_start"]), _instant_ms(split["test_start"])
    horizon_ms = round(float(split["purge_s"]) * 1000)
    ex = product_examples(out)
    ex = ex[(ex["cutoff"] + horizon_ms < valid_ms) | (ex["cutoff"] >= test_ms)].reset_index(drop=True)
    probes = pd.DataFrame({"unit": ex["robot_id"].astype(str), "time": ex["cutoff"].astype(np.int64)})
    x = window_features(sensor_rows(dataset, data), probes, windows)
    if dataset == "azure":
        x = x.join(azure_history_features(data, probes))
    train, test = (ex["cutoff"] < valid_ms).to_numpy(), (ex["cutoff"] >= test_ms).to_numpy()
    y, w = ex["label"].to_numpy(dtype=np.int8), ex["weight"].to_numpy(dtype=float)
    # one thread: on a shared machine LightGBM's OpenMP threads spin against each other (10x slower on 2 busy
    # cores); the figures do not depend on it
    clf = lgb.LGBMClassifier(n_estimators=rounds, learning_rate=0.05, random_state=0, n_jobs=1, verbose=-1)
    clf.fit(x[train], y[train], sample_weight=w[train])
    score = np.asarray(clf.predict_proba(x[test]), dtype=np.float64)[:, 1]
    y_te, w_te = y[test], w[test]
    scores = {"baseline": score}
    pairs: tuple[tuple[str, str], ...] = ()
    product_note = None
    try:
        risk = product_test_risk(model_dir, out, str(meta.get("fleet") or _fleet(out)))
        merged = ex[test][["robot_id", "cutoff"]].merge(risk, on=["robot_id", "cutoff"], how="left")
        if merged["risk"].isna().any():
            raise ValueError(f"{int(merged['risk'].isna().sum())} test rows have no product risk")
        scores["product"] = merged["risk"].to_numpy(dtype=float)
        pairs = (("product", "baseline"),)
    except Exception as exc:  # the comparison is optional: the trainer may be mid-change
        product_note = f"product scores not compared: {type(exc).__name__}: {exc}"
    groups = robot_day_groups(ex["robot_id"].to_numpy(dtype=object)[test], ex["cutoff"].to_numpy()[test])
    boot = bootstrap_intervals(y_te, scores, w_te, groups, pairs=pairs)
    both = 0 < y_te.sum() < len(y_te)
    diff = boot.differences.get("product-baseline", {})
    return {
        "method": f"pandas rolling windows + LightGBM, {rounds} rounds, default parameters",
        "features": int(x.shape[1]),
        "train_rows": int(train.sum()),
        "train_positives": int(y[train].sum()),
        "n_pos": int(y_te.sum()),
        "n_neg": int(len(y_te) - y_te.sum()),
        "pr_auc": float(average_precision_score(y_te, score, sample_weight=w_te)) if both else None,
        "pr_auc_interval": boot.intervals["baseline"]["pr_auc"],
        "roc_auc": float(roc_auc_score(y_te, score, sample_weight=w_te)) if both else None,
        "roc_auc_interval": boot.intervals["baseline"]["roc_auc"],
        "product_minus_baseline_pr_auc_interval": diff.get("pr_auc"),
        "product_minus_baseline_roc_auc_interval": diff.get("roc_auc"),
        "note": product_note,
        "seconds": time.perf_counter() - started,
    }


def _fleet(out: Path) -> str:
    fleets = sorted(p.name.removeprefix("fleet=") for p in (out / "features").glob("fleet=*"))
    if len(fleets) != 1:
        raise ValueError(f"expected one fleet under {out}/features/ (got {fleets})")
    return fleets[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.baseline_pandas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", required=True, choices=("skab", "azure"))
    parser.add_argument("--data", type=Path, required=True, help="folder holding skab/ and azure_pdm/")
    parser.add_argument("--out", type=Path, required=True, help="the product's features output root")
    parser.add_argument("--model", type=Path, required=True, help="the product's model folder")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"boosting rounds (default {ROUNDS})")
    args = parser.parse_args(argv)
    print(
        json.dumps(
            baseline_result(args.dataset, args.data, args.out, args.model, rounds=args.rounds), indent=1
        )
    )


if __name__ == "__main__":
    main()
