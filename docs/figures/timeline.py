# Regenerate with `.venv/bin/python docs/figures/timeline.py` (writes docs/figures/timeline.png next to it).
"""Illustration of docs/time-semantics.md: clocks, the nearest-time join, the cutoff rule, labels, exclusions.

Top: a few seconds around a cutoff ``c`` (each signal's own irregular sample clock, the 1 s grid, a tolerance
band, the cutoff rule). Bottom: twenty minutes around it (window, horizon, a failure, the grid cutoffs and
their fate in event mode). Deterministic: fixed seed, Agg backend, no timestamps in the PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

OUT = Path(__file__).with_name("timeline.png")

GRID_C = "#222222"
LOC_C = "#1f77b4"
BAT_C = "#2ca02c"
MIS_C = "#9467bd"
WIN_C = "#ffd966"
HOR_C = "#f4b6b6"
FAIL_C = "#d62728"
COOL_C = "#bbbbbb"
NEG_C = "#4c72b0"
NEAR_C = "#ff7f0e"
OTHER_C = "#7f7f7f"


def _curve(
    ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], color: str, **kw: object
) -> None:
    style = {"arrowstyle": "->", "color": color, "lw": 1.6, "connectionstyle": "arc3,rad=0.25", **kw}
    ax.annotate("", xy=end, xytext=start, arrowprops=style)


def zoom_panel(ax: plt.Axes, rng: np.random.Generator) -> None:
    """Seconds around the cutoff: sample clocks, the 1 s grid, a tolerance band, the cutoff rule."""
    x0, x1 = -4.7, 2.6
    ax.set_xlim(x0, x1)
    ax.set_ylim(0.35, 4.8)  # rows: grid 4, localization 3, battery 2, mission 1
    ax.set_yticks([4.0, 3.0, 2.0, 1.0])
    ax.set_yticklabels(
        [
            "clock: 1 s grid\n(align.step_ms = 1000)",
            "localization\n~10 Hz, nearest, τ = 100 ms",
            "battery\nnearest, τ = 1.5 s *",
            "mission\non change, backward, τ = 1 h",
        ],
        fontsize=9.5,
    )
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("time relative to the cutoff c (seconds)", fontsize=10)
    ax.set_title(
        "Zoom: the last seconds before a cutoff c, each signal on its own clock", fontsize=11, loc="left"
    )
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)

    # the window [c - W, c) continues to the left of the panel
    ax.axvspan(x0, 0.0, color=WIN_C, alpha=0.25, lw=0)
    ax.text(-4.62, 4.62, "window [c − W, c)  (continues to the left; W = 42 s)", fontsize=9, va="center")
    ax.axvline(0.0, color=FAIL_C, lw=1.8)
    ax.text(0.06, 4.62, "cutoff c", color=FAIL_C, fontsize=10, fontweight="bold", va="center")

    # grid ticks: multiples of 1 s (c itself is not in its own window); dotted guides through every row
    grid = np.arange(-4.0, 3.0, 1.0)
    inside = grid < 0
    ax.vlines(grid, 0.8, 3.72, color="#999999", lw=0.7, linestyles=":")
    ax.vlines(grid[inside], 3.75, 4.25, color=GRID_C, lw=2.4)
    ax.vlines(grid[~inside], 3.75, 4.25, color=GRID_C, lw=2.4, alpha=0.3)
    for t in grid[inside]:
        ax.text(t + 0.05, 4.32, f"c{t:+.0f} s", ha="left", va="center", fontsize=8.5, color=GRID_C)

    # localization: 10 Hz on its own offset (+37 ms) with jitter; one tick's tolerance band and nearest match
    loc = np.arange(-48, 26) * 0.1 + 0.037 + rng.uniform(-0.008, 0.008, 74)
    ax.vlines(loc, 2.85, 3.15, color=LOC_C, lw=1.1)
    tick = -3.0
    ax.add_patch(plt.Rectangle((tick - 0.1, 2.72), 0.2, 0.56, color=LOC_C, alpha=0.22, lw=0))
    near = loc[np.argmin(np.abs(loc - tick))]
    ax.vlines(near, 2.78, 3.22, color=LOC_C, lw=3.4)
    ax.annotate(
        "tick c−3 s: band [t − τ, t + τ];\nthe nearest sample within it is matched",
        xy=(tick - 0.1, 2.75),
        xytext=(-4.62, 2.47),
        fontsize=8.5,
        color=LOC_C,
        va="center",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5},
        arrowprops={"arrowstyle": "-", "color": LOC_C, "lw": 0.8},
    )

    # battery on an irregular clock (an upload gap): tick c-1 s's nearest sample lies after c
    bat = np.array([-4.05, -2.45, 0.35, 1.6])
    ax.vlines(bat, 1.85, 2.15, color=BAT_C, lw=1.8)
    t_edge = -1.0
    ax.add_patch(plt.Rectangle((t_edge - 1.5, 1.72), 3.0, 0.56, color=BAT_C, alpha=0.12, lw=0))
    ax.plot([0.35], [2.0], marker="x", color=FAIL_C, markersize=16, mew=3, zorder=5)
    _curve(ax, (t_edge, 2.2), (0.33, 2.2), FAIL_C, ls="--", connectionstyle="arc3,rad=-0.3")
    _curve(ax, (t_edge, 2.2), (-2.43, 2.2), BAT_C, lw=2.0, connectionstyle="arc3,rad=0.3")
    ax.text(
        0.55,
        2.58,
        "cutoff rule: the nearest sample of tick c−1 s\nhas ts ≥ c, so this window may not use it …",
        fontsize=8.5,
        color=FAIL_C,
        va="center",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9, "pad": 1.5},
    )
    ax.text(
        0.55,
        1.55,
        "… the tick falls back to its backward match\n(latest ts ≤ t within τ; none → null)",
        fontsize=8.5,
        color=BAT_C,
        va="center",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9, "pad": 1.5},
    )

    # mission: on change, backward within 1 h
    ax.vlines([-3.62], 0.85, 1.15, color=MIS_C, lw=2.6)
    ax.text(-3.68, 1.0, "EXECUTING", color=MIS_C, fontsize=8.5, ha="right", va="center")
    for t in (-3.0, -2.0, -1.0):
        _curve(ax, (t, 1.12), (-3.58, 1.12), MIS_C, lw=1.0, alpha=0.7, connectionstyle="arc3,rad=0.12")
    ax.text(
        -3.5,
        0.55,
        "backward: every tick takes the latest sample with ts ≤ t (here the same one)",
        fontsize=8.5,
        color=MIS_C,
        va="center",
    )
    ax.text(
        1.0,
        -0.2,
        "* sampling and τ chosen for the illustration: on the 1 s grid the default τ (≤ 1 s) "
        "almost never lets a sample after c be the nearest",
        transform=ax.transAxes,
        fontsize=7.5,
        color="#555555",
        ha="right",
        va="center",
    )


def wide_panel(ax: plt.Axes) -> None:
    """Minutes around the cutoff: window, horizon, failure, cooldown and the fate of every grid cutoff."""
    h, w, cooldown, t_f = 300, 42, 600, 200
    cool_end = t_f + w + cooldown
    x0, x1 = -260, 1010
    white = {"facecolor": "white", "edgecolor": "none", "alpha": 0.9, "pad": 1.5}
    ax.set_xlim(x0, x1)
    ax.set_ylim(0.2, 4.3)
    ax.set_yticks([])
    for spine in ("top", "right", "left"):
        ax.spines[spine].set_visible(False)
    ax.set_xlabel("time relative to the cutoff c (seconds)", fontsize=10)
    ax.set_title(
        "Labels and exclusions around a failure "
        "(event mode, lead 0, h = 300 s, W = Wmax = 42 s, cooldown 600 s)",
        fontsize=11,
        loc="left",
    )

    # the cutoff c: window before it, horizon after it, a failure inside the horizon
    ax.vlines(0, 0.75, 3.95, color=FAIL_C, lw=1.8)
    ax.text(-6, 4.1, "cutoff c", color=FAIL_C, fontsize=10, fontweight="bold", va="center", ha="right")
    ax.add_patch(plt.Rectangle((-w, 3.25), w, 0.5, color=WIN_C, lw=0))
    ax.text(-w - 6, 3.5, "window [c − W, c)", ha="right", va="center", fontsize=9)
    ax.add_patch(plt.Rectangle((0, 3.25), h, 0.5, color=HOR_C, lw=0))
    ax.text(95, 3.5, "horizon (c, c + h]", ha="center", va="center", fontsize=9.5)
    ax.vlines(t_f, 0.75, 3.95, color=FAIL_C, lw=2.2, linestyles="--")
    ax.plot([t_f], [3.5], marker="*", color=FAIL_C, markersize=20, mec="black", mew=0.6, zorder=5)
    ax.text(t_f + 8, 4.1, "failure at t_f, inside c's horizon", color=FAIL_C, fontsize=9.5, va="center")

    # the reasons, as the cutoffs they exclude
    ax.add_patch(plt.Rectangle((t_f - h, 2.2), h, 0.5, facecolor=NEAR_C, alpha=0.3, lw=0))
    ax.text(t_f / 2, 2.45, "near_failure:\na failure in (c, c + h]", ha="center", va="center", fontsize=8.8)
    ax.add_patch(
        plt.Rectangle((t_f, 2.2), cool_end - t_f, 0.5, facecolor=COOL_C, alpha=0.45, hatch="//", lw=0)
    )
    ax.text(
        (t_f + cool_end) / 2,
        2.45,
        "other_failure (cooldown): a failure in [c − Wmax − cooldown, c]",
        ha="center",
        va="center",
        fontsize=8.8,
        bbox=white,
    )
    ax.annotate(
        "",
        xy=(cool_end, 2.0),
        xytext=(t_f, 2.0),
        arrowprops={"arrowstyle": "<->", "color": "#555555", "lw": 1.0},
    )
    ax.text((t_f + cool_end) / 2, 1.82, "Wmax + cooldown = 642 s", ha="center", va="center", fontsize=8.5)

    # grid cutoffs every 5 s, coloured by their fate
    grid = np.arange(-255, 1010, 5)
    near = (grid < t_f) & (grid >= t_f - h)
    other = (grid >= t_f) & (grid <= cool_end)
    neg = ~near & ~other
    ax.vlines(grid[neg], 1.0, 1.4, color=NEG_C, lw=0.9)
    ax.vlines(grid[near], 1.0, 1.4, color=NEAR_C, lw=0.9)
    ax.vlines(grid[other], 1.0, 1.4, color=OTHER_C, lw=0.9, alpha=0.7)
    ax.plot([t_f], [1.2], marker="D", color=FAIL_C, markersize=10, mec="black", mew=0.6, zorder=5)
    ax.plot([0], [1.2], marker="o", color="white", markersize=8, mec=FAIL_C, mew=2, zorder=5)
    ax.text(x0 + 2, 1.62, "grid cutoffs, every 5 s:", fontsize=9, va="center")
    ax.text(-178, 0.7, "negatives (label 0)", color=NEG_C, fontsize=9, ha="center", va="center")
    ax.text(50, 0.7, "excluded: near_failure (c too)", color=NEAR_C, fontsize=9, ha="center", va="center")
    ax.text(
        (t_f + cool_end) / 2 + 60,
        0.7,
        "excluded: other_failure",
        color=OTHER_C,
        fontsize=9,
        ha="center",
        va="center",
    )
    ax.text(t_f + 12, 0.7, "positive: c = t_f − lead", color=FAIL_C, fontsize=9, ha="left", va="center")
    ax.text(x1, 0.7, "negatives", color=NEG_C, fontsize=9, ha="right", va="center")


def legend(fig: plt.Figure) -> None:
    handles = [
        Line2D([], [], color=GRID_C, lw=2.2, label="clock tick t (1 s grid)"),
        Line2D([], [], color=LOC_C, lw=1.2, label="sample (its own clock)"),
        Line2D([], [], color=LOC_C, lw=1.6, marker=">", markersize=5, label="tick → matched sample"),
        Patch(color=LOC_C, alpha=0.2, label="tolerance band ±τ"),
        Line2D(
            [], [], color=FAIL_C, marker="x", lw=0, markersize=9, mew=2.5, label="sample at ts ≥ c: unusable"
        ),
        Patch(color=WIN_C, alpha=0.8, label="window [c − W, c)"),
        Patch(color=HOR_C, alpha=0.9, label="horizon (c, c + h]"),
        Line2D([], [], color=FAIL_C, marker="*", lw=0, markersize=12, label="failure"),
        Patch(facecolor=COOL_C, alpha=0.5, hatch="//", label="cooldown (other_failure)"),
    ]
    fig.legend(
        handles=handles, loc="lower center", ncol=5, fontsize=9, frameon=False, bbox_to_anchor=(0.5, 0.0)
    )


def main() -> None:
    plt.rcParams.update({"font.family": "DejaVu Sans", "svg.hashsalt": "timeline"})
    rng = np.random.default_rng(7)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(14, 7), dpi=100, gridspec_kw={"height_ratios": [1.35, 1.0], "hspace": 0.42}
    )
    fig.subplots_adjust(left=0.155, right=0.985, top=0.95, bottom=0.16)
    zoom_panel(top, rng)
    wide_panel(bottom)
    legend(fig)
    fig.savefig(OUT, dpi=100, metadata={"Software": None})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
