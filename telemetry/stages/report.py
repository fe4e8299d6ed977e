"""A self-contained HTML report of one model (plots as inline PNG: viewable offline, one file).

Plots: precision-recall and ROC curves on the test days (model, one-feature baseline, prevalence),
importance by gain, risk around a few test failures, and calibration. Tables: metrics per split and per
failure mode, and the largest per-feature contributions of the top alerts.

With incidents (``train.incident_budget`` set: :class:`IncidentTimeline`), the risk section instead shows a
timeline per robot around a few test failures: the risk of every test cutoff, the threshold and the
hysteresis level, the incidents as spans and the failures (caught or missed) as vertical lines.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from telemetry._types import F64
from telemetry.stages.evaluate import verdict
from telemetry.stages.incidents import caught_failures

__all__ = ["IncidentTimeline", "ReportData", "render_report"]


@dataclass(slots=True)
class IncidentTimeline:
    """The test days as deployment sees them (all times epoch ms UTC): the risk of every test cutoff, not
    only the rows the fit kept."""

    scores: pd.DataFrame
    """``robot_id``, ``cutoff``, ``risk``: every test row (:func:`telemetry.stages.train.cutoff_scores`)."""
    incidents: pd.DataFrame
    """:func:`telemetry.stages.incidents.incidents` of `scores` at `threshold`."""
    failures: pd.DataFrame
    """``robot_id``, ``ts``, ``code``: the failures the test labels point at (the target's)."""
    threshold: float
    hysteresis: float
    """An open incident stays open while ``risk >= hysteresis * threshold``."""
    horizon_s: float
    """A failure is caught by an unsuppressed incident of its robot opened in ``[ts - horizon, ts)``."""


@dataclass(slots=True)
class ReportData:
    """What the report shows (test-day rows unless noted)."""

    model_id: str
    target: str
    metadata: Mapping[str, Any]
    metrics: Mapping[str, Any]
    y: npt.NDArray[np.int8]
    risk: F64
    weight: F64
    baseline_score: F64
    baseline_name: str
    robot_id: npt.NDArray[np.object_]
    cutoff: npt.NDArray[np.int64]
    failure_code: npt.NDArray[np.object_]
    importance: Mapping[str, float]
    contributions: Sequence[Mapping[str, Any]]
    """Top alerts: ``robot_id``, ``cutoff``, ``risk``, ``label``, ``top`` [(feature, contribution)]."""
    incident_timeline: IncidentTimeline | None = None
    """Set when the threshold is an incident budget: the timelines show incidents and failures."""


def _subplots(figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A figure outside pyplot: rendering the report never changes the caller's matplotlib backend
    (a notebook keeps its inline plots) and leaves no figure open."""
    fig = Figure(figsize=figsize)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _curves(data: ReportData) -> tuple[str, str]:
    has_both = (data.y == 1).any() and (data.y == 0).any()
    fig1, ax1 = _subplots(figsize=(5, 4))
    fig2, ax2 = _subplots(figsize=(5, 4))
    if has_both:
        for name, score in (
            ("model", data.risk),
            (f"one feature: {data.baseline_name}", data.baseline_score),
        ):
            finite = np.isfinite(score)
            s = np.where(finite, score, (score[finite].min() - 1.0) if finite.any() else 0.0)
            p, r, _ = precision_recall_curve(data.y, s, sample_weight=data.weight)
            ax1.step(r, p, where="post", label=name)
            fpr, tpr, _ = roc_curve(data.y, s, sample_weight=data.weight)
            ax2.plot(fpr, tpr, label=name)
        prevalence = float(data.weight[data.y == 1].sum() / data.weight.sum())
        ax1.axhline(prevalence, color="grey", ls="--", label=f"prevalence {prevalence:.2g}")
        ax2.plot([0, 1], [0, 1], color="grey", ls="--", label="chance")
    else:
        ax1.text(0.5, 0.5, "no positives and negatives to plot", ha="center")
    ax1.set(
        xlabel="recall", ylabel="precision", title="Precision-recall (test days)", xlim=(0, 1), ylim=(0, 1.02)
    )
    ax2.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test days)")
    ax1.legend(fontsize=7, loc="lower left")
    ax2.legend(fontsize=7, loc="lower right")
    return _png(fig1), _png(fig2)


def _importance(data: ReportData, top: int = 20) -> str:
    items = [(k, v) for k, v in data.importance.items() if v > 0][:top]
    fig, ax = _subplots(figsize=(7, 0.3 * max(len(items), 3) + 1))
    if items:
        names, gains = zip(*items, strict=True)
        ax.barh(range(len(items))[::-1], gains)
        ax.set_yticks(range(len(items))[::-1], [str(n) for n in names], fontsize=7)
    ax.set(xlabel="total gain", title=f"Importance by gain (top {top} of {len(data.importance)})")
    return _png(fig)


def _calibration(data: ReportData, bins: int = 10) -> str:
    fig, ax = _subplots(figsize=(5, 4))
    if len(data.risk):
        edges = np.quantile(data.risk, np.linspace(0, 1, bins + 1))
        which = np.clip(np.searchsorted(edges, data.risk, side="right") - 1, 0, bins - 1)
        mean_p, freq = [], []
        for b in range(bins):
            m = which == b
            w = data.weight[m]
            if w.sum() > 0:
                mean_p.append(float(np.average(data.risk[m], weights=w)))
                freq.append(float(np.average(data.y[m], weights=w)))
        ax.loglog(mean_p, freq, "o-", label="model")
        lo = max(min([*mean_p, *[f for f in freq if f > 0]], default=1e-4), 1e-6)
        ax.loglog([lo, 1], [lo, 1], color="grey", ls="--", label="perfect")
    ax.set(xlabel="mean predicted risk", ylabel="observed failure rate", title="Calibration (test, deciles)")
    ax.legend(fontsize=7)
    return _png(fig)


def _timelines(data: ReportData, n: int = 4, before_s: int = 3600, after_s: int = 600) -> list[str]:
    pos = np.flatnonzero(data.y == 1)
    if len(pos) == 0:
        return []
    pick = pos[np.argsort(-data.risk[pos], kind="stable")][: n // 2]
    rest = np.setdiff1d(pos, pick)
    pick = np.r_[pick, rest[np.argsort(data.risk[rest], kind="stable")][: n - len(pick)]]  # best and worst
    threshold = data.metrics.get("test", {}).get("threshold")
    images = []
    for i in pick:
        robot, t_f = data.robot_id[i], int(data.cutoff[i])
        m = (
            (data.robot_id == robot)
            & (data.cutoff >= t_f - before_s * 1000)
            & (data.cutoff <= t_f + after_s * 1000)
        )
        rel = (data.cutoff[m] - t_f) / 60_000.0
        fig, ax = _subplots(figsize=(7, 2.4))
        ax.plot(rel, data.risk[m], ".", ms=3, label="risk (examples)")
        ax.axvline(0, color="red", lw=1, label=f"failure {data.failure_code[i]}")
        if threshold is not None:
            ax.axhline(threshold, color="orange", ls="--", lw=1, label="alert threshold")
        ax.set_yscale("log")
        when = dt.datetime.fromtimestamp(t_f / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        ax.set(xlabel="minutes from the positive cutoff", ylabel="risk", title=f"{robot} at {when} UTC")
        ax.legend(fontsize=7, loc="upper left")
        images.append(_png(fig))
    return images


def timeline_windows(tl: IncidentTimeline, n: int = 4) -> list[tuple[str, int, str]]:
    """Up to `n` ``(robot_id, center ms, caption)`` to draw: the caught failures of longest lead (half of
    `n`), then the earliest missed ones, each kind filling what the other lacks; without failures, the
    unsuppressed incidents of highest peak (centered on the peak)."""
    catches = caught_failures(tl.incidents, tl.failures, horizon_s=tl.horizon_s)
    robot = catches["robot_id"].to_numpy(dtype=object)
    ts = catches["ts"].to_numpy(dtype=np.int64)
    code = catches["code"].to_numpy(dtype=object)
    lead = catches["lead_s"].to_numpy(dtype=np.float64)
    caught = np.flatnonzero(catches["caught"].to_numpy(dtype=bool))
    missed = np.flatnonzero(~catches["caught"].to_numpy(dtype=bool))
    caught = caught[np.argsort(-lead[caught], kind="stable")]
    missed = missed[np.argsort(ts[missed], kind="stable")]
    n_caught = min(len(caught), max(n // 2, n - len(missed)))
    out = [(str(robot[i]), int(ts[i]), f"{code[i] or 'failure'} caught, lead {lead[i] / 60:.1f} min")
           for i in caught[:n_caught]]  # fmt: skip
    out += [(str(robot[i]), int(ts[i]), f"{code[i] or 'failure'} missed") for i in missed[: n - len(out)]]
    if not out:
        live = np.flatnonzero(~tl.incidents["suppressed"].to_numpy(dtype=bool))
        peak = tl.incidents["peak_risk"].to_numpy(dtype=np.float64)
        at = tl.incidents["peak_cutoff"].to_numpy(dtype=np.int64)
        i_robot = tl.incidents["robot_id"].to_numpy(dtype=object)
        top = live[np.argsort(-peak[live], kind="stable")][: n // 2]
        out = [(str(i_robot[i]), int(at[i]), f"incident peak {peak[i]:.3g}, no failure") for i in top]
    return out


def _minutes(ms: Any, center: int) -> F64:
    return (np.asarray(ms, dtype=np.float64) - center) / 60_000.0


def _incident_spans(ax: Axes, tl: IncidentTimeline, robot: str, lo: int, hi: int, center: int) -> None:
    """Shade the incidents of `robot` overlapping ``[lo, hi]``: ``[opened, closed]`` (open ones: to
    ``last_active``); suppressed ones grey and hatched."""
    inc = tl.incidents
    mine = inc["robot_id"].to_numpy(dtype=object) == robot
    opened = inc["opened"].to_numpy(dtype=np.int64)[mine]
    last = inc["last_active"].to_numpy(dtype=np.int64)[mine]
    closed = inc["closed"].to_numpy(dtype=np.float64, na_value=np.nan)[mine]
    suppressed = inc["suppressed"].to_numpy(dtype=bool)[mine]
    end = np.where(np.isnan(closed), last, np.nan_to_num(closed)).astype(np.int64)
    labelled: set[str] = set()
    for o, e, sup in zip(opened, end, suppressed, strict=True):
        if e < lo or o > hi:
            continue
        kind = "suppressed incident" if sup else "incident"
        x0, x1 = float(_minutes(o, center)), float(_minutes(max(int(e), int(o) + 1), center))
        if sup:
            ax.axvspan(x0, x1, color="grey", hatch="//", alpha=0.3, label=None if kind in labelled else kind)
        else:
            ax.axvspan(x0, x1, color="C1", alpha=0.2, label=None if kind in labelled else kind)
        labelled.add(kind)


def _failure_lines(ax: Axes, catches: pd.DataFrame, robot: str, lo: int, hi: int, center: int) -> None:
    """Failures of `robot` in ``[lo, hi]`` as vertical lines labelled with their code: solid and ✓ when
    caught, dashed and ✗ when missed."""
    ts = catches["ts"].to_numpy(dtype=np.int64)
    mine = np.flatnonzero((catches["robot_id"].to_numpy(dtype=object) == robot) & (ts >= lo) & (ts <= hi))
    caught = catches["caught"].to_numpy(dtype=bool)
    code = catches["code"].to_numpy(dtype=object)
    labelled: set[str] = set()
    for i in mine:
        kind = "caught failure" if caught[i] else "missed failure"
        x = float(_minutes(ts[i], center))
        ax.axvline(
            x, color="red", lw=1.2, ls="-" if caught[i] else "--", label=None if kind in labelled else kind
        )
        labelled.add(kind)
        mark = "\u2713 " if caught[i] else "\u2717 "
        ax.annotate(mark + str(code[i] or "failure"), (x, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, -10), textcoords="offset points", fontsize=7, color="red")  # fmt: skip


def _incident_timelines(tl: IncidentTimeline, before_s: int = 3000, after_s: int = 600) -> list[str]:
    """One PNG per window of :func:`timeline_windows`: ``[center - before_s, center + after_s]``, risk of
    every test cutoff of the robot (log scale), threshold, hysteresis level, incidents and failures."""
    catches = caught_failures(tl.incidents, tl.failures, horizon_s=tl.horizon_s)
    s_robot = tl.scores["robot_id"].to_numpy(dtype=object)
    s_cut = tl.scores["cutoff"].to_numpy(dtype=np.int64)
    s_risk = tl.scores["risk"].to_numpy(dtype=np.float64)
    images = []
    for robot, center, caption in timeline_windows(tl):
        lo, hi = center - before_s * 1000, center + after_s * 1000
        fig, ax = _subplots(figsize=(7, 2.6))
        m = (s_robot == robot) & (s_cut >= lo) & (s_cut <= hi) & np.isfinite(s_risk)
        risk = np.maximum(s_risk[m], 1e-9)  # log scale
        ax.plot(_minutes(s_cut[m], center), risk, ".-", ms=3, lw=0.6, label="risk (every cutoff)")
        if np.isfinite(tl.threshold):
            ax.axhline(tl.threshold, color="orange", ls="--", lw=1, label="threshold")
            ax.axhline(tl.hysteresis * tl.threshold, color="orange", ls=":", lw=1,
                       label=f"hysteresis level ({tl.hysteresis:g} x threshold)")  # fmt: skip
        _incident_spans(ax, tl, robot, lo, hi, center)
        _failure_lines(ax, catches, robot, lo, hi, center)
        ax.set_yscale("log")
        ax.set_xlim(float(_minutes(lo, center)), float(_minutes(hi, center)))
        when = dt.datetime.fromtimestamp(center / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        ax.set(xlabel="minutes", ylabel="risk", title=f"{robot} at {when} UTC: {caption}")
        ax.legend(fontsize=6, loc="upper left")
        images.append(_png(fig))
    return images


def _risk_section(data: ReportData) -> str:
    """The risk timelines: per robot with incidents when the model has them, else around test positives."""
    tl = data.incident_timeline
    if tl is None:
        images = "".join(f'<img src="{src}" alt="risk timeline">' for src in _timelines(data))
        return "<h2>Risk around test failures</h2>" + (images or "<p>No positives on the test days.</p>")
    images = "".join(f'<img src="{src}" alt="incident timeline">' for src in _incident_timelines(tl))
    return (
        "<h2>Timeline per robot: risk, incidents, failures</h2>"
        "<p>Test days as deployment scores them (every cutoff, not only the rows the fit kept); x: minutes "
        "from the failure (or incident peak); shaded: incidents from opening to closing (open ones to their "
        "last active cutoff; suppressed: grey, hatched); red lines: failures the labels point at, solid and "
        f"&#10003; when an incident opened within {_fmt(tl.horizon_s)} s before, dashed and &#10007; when "
        "missed.</p>" + (images or "<p>No failures or incidents on the test days.</p>")
    )


def _cell(m: Mapping[str, Any], key: str) -> str:
    interval = m.get(f"{key}_interval")
    if isinstance(interval, list):
        return f"{_fmt(m.get(key))} <small>[{_fmt(interval[0])}, {_fmt(interval[1])}]</small>"
    return _fmt(m.get(key))


def _metrics_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    keys = ["pr_auc", "roc_auc", "prevalence", "precision", "recall", "alerts_per_robot_day", "median_lead_s",
            "n_pos", "n_neg"]  # fmt: skip
    head = "".join(f"<th>{k}</th>" for k in keys)
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{_cell(m, k)}</td>" for k in keys) + "</tr>"
        for name, m in rows.items()
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _events_table(metrics: Mapping[str, Any]) -> str:
    """Event-level metrics (``events`` of the test and validation metrics), when the model has them."""
    rows = {name: metrics[key]["events"] for name, key in (("test", "test"), ("validation", "valid"))
            if isinstance(metrics.get(key, {}).get("events"), Mapping)}  # fmt: skip
    if not rows:
        return ""
    keys = ["failures", "caught", "recall", "incidents", "false_incidents_per_robot_day", "precision",
            "incidents_per_failure_caught"]  # fmt: skip
    head = "".join(f"<th>{k}</th>" for k in [*keys, "median_lead_s"])
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(f"<td>{_fmt(m.get(k))}</td>" for k in keys)
        + f"<td>{_fmt(m.get('lead_s', {}).get('median'))}</td></tr>"
        for name, m in rows.items()
    )
    return (
        "<p>Incidents (one per episode of risk, see docs/time-semantics.md) against the failures of the "
        f"labelled days:</p><table><tr><th></th>{head}</tr>{body}</table>"
    )


def _intervals(metrics: Mapping[str, Any]) -> str:
    """Test PR-AUC of the model, the one-feature baseline and the prevalence with their 90 % intervals."""
    base = metrics.get("baselines", {})
    rows = [
        ("model", metrics["test"].get("pr_auc"), metrics["test"].get("pr_auc_interval")),
        *(
            (label, base.get(key, {}).get("pr_auc"), base.get(key, {}).get("pr_auc_interval"))
            for label, key in (("one feature", "one_feature"), ("prevalence", "prevalence"))
        ),
    ]
    fig, ax = _subplots(figsize=(6, 1.8))
    for i, (_name, value, interval) in enumerate(rows):
        if value is None:
            continue
        if isinstance(interval, list):
            ax.plot(interval, [i, i], color="C0", lw=3, alpha=0.5)
        ax.plot([value], [i], "o", color="C0")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set(xlim=(0, 1), xlabel="test PR-AUC (bar: 90 % bootstrap interval over robot-days)")
    ax.invert_yaxis()
    return _png(fig)


def render_report(data: ReportData) -> str:
    """The report as one HTML document (no external resources)."""
    pr, roc = _curves(data)
    metrics = data.metrics
    rows: dict[str, Mapping[str, Any]] = {"test": metrics["test"], "validation": metrics["valid"]}
    rows.update({f"test · {code}": m for code, m in metrics.get("per_mode", {}).items()})
    base = metrics.get("baselines", {}).get("one_feature", {})
    contrib_rows = "".join(
        f"<tr><td>{html.escape(str(c['robot_id']))}</td><td>{_fmt(c['when'])}</td><td>{_fmt(c['risk'])}</td>"
        f"<td>{c['label']}</td><td>"
        + "<br>".join(f"{html.escape(name)}: {value:+.3f}" for name, value in c["top"])
        + "</td></tr>"
        for c in data.contributions
    )
    meta = {
        k: data.metadata[k]
        for k in ("split", "params", "best_iteration", "rounds", "pos_weight")
        if k in data.metadata
    }
    rule = data.metadata.get("threshold_rule") or {"alerts": data.metadata.get("alert_budget")}
    budget = (
        f"{_fmt(rule['incidents'])} incidents per robot-day (no suppression)"
        if "incidents" in rule
        else f"{_fmt(rule.get('alerts'))} alerts per robot-day"
    )
    sentence = verdict(metrics)
    warning = f'<p style="color:#a00"><b>{html.escape(sentence)}</b></p>' if sentence else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>telemetry model {html.escape(data.model_id)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:13px;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 6px}}
img{{max-width:100%;margin:4px}} pre{{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto}}</style>
</head><body>
<h1>Model <code>{html.escape(data.model_id)}</code> — target <code>{html.escape(data.target)}</code></h1>
<p>Time split by days; alert threshold {_fmt(metrics["test"]["threshold"])} chosen on the validation days for
{budget}. Prevalence baseline: PR-AUC = prevalence.
One-feature baseline: <code>{html.escape(str(base.get("feature", "")))}</code>
(direction {_fmt(base.get("direction"))}),
test PR-AUC {_fmt(base.get("pr_auc"))}, ROC-AUC {_fmt(base.get("roc_auc"))}.</p>
<h2>Metrics</h2>{warning}{_metrics_table(rows)}{_events_table(metrics)}
<p>Brackets: 90 % bootstrap intervals over the test robot-days.</p>
<img src="{_intervals(metrics)}" alt="PR-AUC intervals">
<h2>Curves</h2><img src="{pr}" alt="PR curve"><img src="{roc}" alt="ROC curve">
<h2>Importance</h2><img src="{_importance(data)}" alt="importance">
{_risk_section(data)}
<h2>Calibration</h2><img src="{_calibration(data)}" alt="calibration">
<h2>Why the top alerts fired (LightGBM pred_contrib, log-odds)</h2>
<table><tr><th>robot</th><th>cutoff (UTC)</th><th>risk</th><th>label</th><th>largest contributions</th></tr>
{contrib_rows}</table>
<h2>Training</h2><pre>{html.escape(json.dumps(meta, indent=1, default=str))}</pre>
</body></html>
"""
