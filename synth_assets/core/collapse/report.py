"""Render an experiment's per-generation table as markdown, a PNG line plot and headline numbers.

Plots use matplotlib's object API (`Figure`, which renders with Agg), so nothing touches pyplot's
global state or needs a display.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import pandas as pd

__all__ = ["headline_numbers", "line_plot_png", "markdown_image", "markdown_table"]


def markdown_table(frame: pd.DataFrame, metrics: Sequence[str], digits: int = 4) -> str:
    """One row per generation, one column per (metric, regime), regimes in first-seen order.

    A column of whole numbers prints as integers, any other with `digits` significant digits.
    """
    regimes = list(dict.fromkeys(frame["regime"]))
    wide = frame.pivot(index="generation", columns="regime", values=list(metrics))
    columns = [(metric, regime) for metric in metrics for regime in regimes]
    header = ["generation"] + [f"{metric} ({regime})" for metric, regime in columns]
    cells = {column: _format_column(wide[column], digits) for column in columns}
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for i, generation in enumerate(wide.index):
        lines.append("| " + " | ".join([str(generation)] + [cells[column][i] for column in columns]) + " |")
    return "\n".join(lines)


def line_plot_png(
    frame: pd.DataFrame,
    metrics: Sequence[str],
    title: str,
    log_metrics: Sequence[str] = (),
) -> bytes:
    """One panel per metric, one line per regime, generation on the x axis."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(4.2 * len(metrics), 3.4), layout="constrained")
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for regime, group in frame.groupby("regime", sort=False):
            ax.plot(group["generation"], group[metric], marker="o", markersize=3, label=str(regime))
        if metric in log_metrics:
            ax.set_yscale("log")
        ax.set_xlabel("generation")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str = "plot") -> str:
    """The PNG embedded as a base64 data URI, so the plot travels inside the metadata."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def headline_numbers(frame: pd.DataFrame, metrics: Sequence[str]) -> dict[str, float]:
    """For each metric and regime: the value at the last generation and its ratio to generation 0,
    keyed `<metric>_<regime>_final` and `<metric>_<regime>_ratio`."""
    numbers: dict[str, float] = {}
    for regime, group in frame.sort_values("generation").groupby("regime", sort=False):
        for metric in metrics:
            first, last = float(group[metric].iloc[0]), float(group[metric].iloc[-1])
            numbers[f"{metric}_{regime}_final"] = last
            numbers[f"{metric}_{regime}_ratio"] = last / first if first else float("nan")
    return numbers


def _format_column(values: pd.Series, digits: int) -> list[str]:
    if all(float(v).is_integer() for v in values):
        return [str(int(v)) for v in values]
    return [f"{v:#.{digits}g}" for v in values]
