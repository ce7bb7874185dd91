"""The report's figures: matplotlib (no pyplot state, no display) -> SVG data URIs.

One visual language in every figure, so a reader learns it once: colour is
the variant, the framework is the line style and marker (PyTorch solid
circles, TensorFlow dashed squares, hatched bars). Curves are means over
seeds at each step. A figure with nothing to draw is None, and the report
says why instead of showing empty axes.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bench.catalogue import IMAGES_PER_S
from reports.aggregate import Implementation, Quality, Stat, pareto_front
from reports.sections.references import ReferenceLine

FRAMEWORK_STYLE: dict[str, dict[str, str]] = {
    "torch": {"linestyle": "-", "marker": "o", "hatch": ""},
    "tf": {"linestyle": "--", "marker": "s", "hatch": "//"},
}
REFERENCE_COLOURS = {"real": "#2a9d2a", "noise": "#b22222"}  # the floor green, the ceiling red
OTHER_STYLE = {"linestyle": ":", "marker": "^", "hatch": ".."}
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "svg.hashsalt": "ganbench",  # the same figure gives the same bytes
}
FIGURE_WIDTH_IN = 7.5
MAX_LEGEND_ENTRIES = 24


def variant_colours(implementations: Sequence[Implementation]) -> dict[str, str]:
    variants = sorted({impl.variant for impl in implementations})
    return {variant: PALETTE[i % len(PALETTE)] for i, variant in enumerate(variants)}


def style_of(impl: Implementation) -> dict[str, str]:
    return FRAMEWORK_STYLE.get(impl.framework, OTHER_STYLE)


def svg_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figures(
    implementations: Sequence[Implementation],
    quality: Quality | None,
    references: Sequence[ReferenceLine] = (),
) -> dict[str, str | None]:
    """The report's four figures by name; None where there is nothing to draw."""
    return {
        "throughput": throughput_bars(implementations),
        "quality_vs_time": (
            quality_vs_time(implementations, quality, references) if quality else None
        ),
        "quality_vs_throughput": (
            quality_vs_throughput(implementations, quality) if quality else None
        ),
        "losses": loss_curves(implementations),
    }


def throughput_bars(implementations: Sequence[Implementation]) -> str | None:
    """Images/s per implementation, fastest on top, with the spread as an error bar."""
    measured = [i for i in implementations if i.stat(IMAGES_PER_S.name).mean is not None]
    if not measured:
        return None
    measured.sort(key=lambda impl: impl.stat(IMAGES_PER_S.name).mean)  # type: ignore[arg-type,return-value]
    colours = variant_colours(implementations)
    with rc_context(STYLE):
        figure = Figure(figsize=(FIGURE_WIDTH_IN, 0.8 + 0.28 * len(measured)))
        axes = figure.subplots()
        for y, impl in enumerate(measured):
            speed = impl.stat(IMAGES_PER_S.name)
            axes.barh(
                y,
                speed.mean,
                xerr=speed.std or 0.0,
                color=colours[impl.variant],
                hatch=style_of(impl)["hatch"],
                edgecolor="white",
                error_kw={"ecolor": "#333333", "capsize": 3, "elinewidth": 1},
            )
            axes.text(
                speed.mean + (speed.std or 0.0),  # type: ignore[operator]
                y,
                f"  {speed.mean:,.0f}",
                va="center",
                ha="left",
                fontsize=8,
                color="#333333",
            )
        axes.set_yticks(range(len(measured)), [impl.label for impl in measured])
        axes.set_xlabel("training images / s (error bar: std over seeds, or over timing windows)")
        right = max(
            i.stat(IMAGES_PER_S.name).mean + (i.stat(IMAGES_PER_S.name).std or 0) for i in measured
        )  # type: ignore[operator]
        axes.set_xlim(0, right * 1.15)
        axes.grid(axis="y", visible=False)
        return svg_data_uri(figure)


def mean_curve(
    entries_per_run: Sequence[Sequence[dict]], x_key: str, y_key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of x and y over runs at each step (runs of one implementation share their steps).

    Each step's values are averaged in run order by numpy, as one run after another adds them.
    """
    points = pd.DataFrame.from_records(
        [
            (entry.get("step", entry.get(x_key)), entry.get(x_key), entry.get(y_key))
            for entries in entries_per_run
            for entry in entries
        ],
        columns=["step", "x", "y"],
    )
    points[["x", "y"]] = points[["x", "y"]].astype(float)
    points = points[points["x"].notna() & np.isfinite(points["y"])]
    means = points.groupby("step", sort=True)[["x", "y"]].agg(lambda v: np.mean(v.to_numpy()))
    return means["x"].to_numpy(), means["y"].to_numpy()


def quality_vs_time(
    implementations: Sequence[Implementation],
    quality: Quality,
    references: Sequence[ReferenceLine] = (),
) -> str | None:
    """Quality at each evaluation against training wall time, every implementation on one axis,
    with the references (training images, noise) as horizontal lines."""
    colours = variant_colours(implementations)
    curves = []
    for impl in implementations:
        xs, ys = mean_curve([row.eval_history for row in impl.ok_rows], "train_s", quality.metric)
        if len(xs):
            curves.append((impl, xs, ys))
    if not curves:
        return None
    with rc_context(STYLE):
        figure = Figure(figsize=(FIGURE_WIDTH_IN, 4.2))
        axes = figure.subplots()
        for impl, xs, ys in curves:
            style = style_of(impl)
            axes.plot(
                xs,
                ys,
                color=colours[impl.variant],
                linestyle=style["linestyle"],
                marker=style["marker"],
                markersize=4,
                label=impl.label,
            )
        levels = [(line, line.value(quality.metric)) for line in references]
        for line, level in levels:
            if level is not None:
                axes.axhline(
                    level,
                    color=REFERENCE_COLOURS[line.kind],
                    linestyle=":",
                    linewidth=1.2,
                    label=line.label,
                )
        axes.set_xlabel("training wall time (s, evaluation excluded)")
        axes.set_ylabel(quality.name + (" (lower is better)" if quality.lower_is_better else ""))
        values = [v for _, _, ys in curves for v in ys]
        values += [level for _, level in levels if level is not None]
        if min(values) > 0 and max(values) > 10 * min(values):  # FID falls by decades early on
            axes.set_yscale("log")
            plain_log_ticks(axes.yaxis, values)
        _legend(axes, len(curves) + sum(level is not None for _, level in levels))
        return svg_data_uri(figure)


def quality_vs_throughput(
    implementations: Sequence[Implementation], quality: Quality
) -> str | None:
    """Final quality against images/s; the Pareto front (nothing better on both) is drawn."""
    measured = [
        impl
        for impl in implementations
        if impl.stat(IMAGES_PER_S.name).mean is not None
        and impl.stat(quality.metric).mean is not None
    ]
    if not measured:
        return None
    points = [(i.stat(IMAGES_PER_S.name).mean, i.stat(quality.metric).mean) for i in measured]
    front = set(pareto_front(points, quality.lower_is_better))  # type: ignore[arg-type]
    colours = variant_colours(implementations)
    with rc_context(STYLE):
        figure = Figure(figsize=(FIGURE_WIDTH_IN, 4.2))
        axes = figure.subplots()
        front_points = sorted(points[i] for i in front)
        axes.plot(
            [p[0] for p in front_points],
            [p[1] for p in front_points],
            color="#444444",
            linewidth=1,
            linestyle="-",
            zorder=1,
            label="Pareto front",
        )
        for index, impl in enumerate(measured):
            speed, score = impl.stat(IMAGES_PER_S.name), impl.stat(quality.metric)
            axes.errorbar(
                speed.mean,
                score.mean,
                xerr=_log_safe_error(speed),
                yerr=score.std or None,
                color=colours[impl.variant],
                marker=style_of(impl)["marker"],
                markersize=9 if index in front else 6,
                markeredgecolor="black" if index in front else colours[impl.variant],
                linestyle="none",
                capsize=2,
                zorder=2,
                label=impl.label,
            )
            if index not in front:
                continue
            axes.annotate(
                impl.label,
                (speed.mean, score.mean),  # type: ignore[arg-type]
                textcoords="offset points",
                xytext=(6, 4),
                fontsize=7,
                color="#333333",
            )
        axes.set_xscale("log")
        plain_log_ticks(axes.xaxis, [speed for speed, _ in points])
        axes.set_xlabel("training images / s (log scale)")
        better = "lower" if quality.lower_is_better else "higher"
        axes.set_ylabel(f"{quality.name} ({better} is better)")
        _legend(axes, len(measured) + 1)
        return svg_data_uri(figure)


def loss_curves(implementations: Sequence[Implementation]) -> str | None:
    """Mean loss per timing window against step: one panel per loss, one line per implementation."""
    keys = shared_loss_keys(implementations)
    if not keys:
        return None
    colours = variant_colours(implementations)
    with rc_context(STYLE):
        height_in = 2.6 * ((len(keys) + 1) // 2) + 0.6
        figure = Figure(figsize=(FIGURE_WIDTH_IN, height_in), layout="constrained")
        panels = figure.subplots((len(keys) + 1) // 2, 2, squeeze=False).ravel()
        for axes, key in zip(panels, keys, strict=False):
            for impl in implementations:
                runs = [row.history for row in impl.ok_rows] or [
                    row.history for row in impl.rows if row.history
                ]
                xs, ys = mean_curve(runs, "step", key)
                if len(xs):
                    axes.plot(
                        xs,
                        ys,
                        color=colours[impl.variant],
                        linestyle=style_of(impl)["linestyle"],
                        label=impl.label,
                    )
            axes.set_title(key)
            axes.set_xlabel("step")
        for axes in panels[len(keys) :]:
            axes.set_visible(False)
        handles, labels = panels[0].get_legend_handles_labels()
        if len(labels) <= MAX_LEGEND_ENTRIES:
            figure.legend(handles, labels, loc="outside lower center", ncols=4)
        return svg_data_uri(figure)


def shared_loss_keys(implementations: Sequence[Implementation]) -> list[str]:
    """Losses at least half the implementations record (d_loss, g_loss): one panel each."""
    counts: dict[str, int] = defaultdict(int)
    for impl in implementations:
        found = {key for row in impl.rows for entry in row.history[:1] for key in entry}
        for key in found - {"step", "train_s"}:
            counts[key] += 1
    shared = [key for key, count in counts.items() if 2 * count >= len(implementations)]
    return sorted(shared, key=lambda key: (key not in ("d_loss", "g_loss"), key))[:4]


def plain_log_ticks(axis, values: Sequence[float]) -> None:
    """Log-axis labels as plain numbers (2,000 not 2x10^3); 2 and 5 labelled in a short range."""
    axis.set_major_formatter(FuncFormatter(lambda value, _: _plain(value)))
    short_range = max(values) < 30 * min(values)
    axis.set_minor_formatter(
        FuncFormatter(
            lambda value, _: _plain(value) if short_range and f"{value:.0e}"[0] in "25" else ""
        )
    )


def _log_safe_error(stat: Stat) -> list[list[float]] | None:
    """± std on a log axis: the lower arm stops short of zero instead of stretching the axis."""
    if not stat.std or stat.mean is None:
        return None
    return [[min(stat.std, 0.9 * stat.mean)], [stat.std]]


def _plain(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _legend(axes, entries: int) -> None:
    if entries <= MAX_LEGEND_ENTRIES:
        axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
