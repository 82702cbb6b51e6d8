"""The segment DNA chart: one small panel per segment, the level keys it over- and under-buys.

Each panel is a segment; each bar a level key (SKU, brand, subcategory or category). The bar is
the segment's **index** for that key: 100 x (the segment's mean share of the key) / (the mean
share over all outlets), drawn on a log scale around 100 so x2 and /2 look the same size
(clipped at 12.5 and 800).
Green bars (right) are over-bought, red bars (left) under-bought. The label shows the key's
share of the segment's purchases, so a huge index on a tiny share is read as such.
"""

from __future__ import annotations

import io
import math

import matplotlib as mpl

mpl.use("Agg")  # no display: files only

import matplotlib.pyplot as plt
import polars as pl

OVER, UNDER = "#2e7d32", "#c62828"
CLIP = 3.0  # bars stop at x8 and /8 (index 800 and 12.5)


def chart_rows(dna: pl.DataFrame, per_side: int = 5, min_all_share: float = 0.0) -> pl.DataFrame:
    """The keys shown per segment: the `per_side` most over- and most under-indexed among keys
    holding at least `min_all_share` of the average outlet's purchases (the default keeps all)."""
    usable = dna.filter((pl.col("AllShare") >= min_all_share) & (pl.col("Index") > 0))
    over = (
        usable.filter(pl.col("Index") > 100)
        .sort(["SegmentId", "Index", "Key"], descending=[False, True, False])
        .group_by("SegmentId", maintain_order=True)
        .head(per_side)
    )
    under = (
        usable.filter(pl.col("Index") < 100)
        .sort(["SegmentId", "Index", "Key"])
        .group_by("SegmentId", maintain_order=True)
        .head(per_side)
    )
    return pl.concat([over, under]).sort(["SegmentId", "Index"], descending=[False, False])


def dna_figure(
    dna: pl.DataFrame,
    segments: pl.DataFrame,
    per_side: int = 5,
    title: str = "Segment DNA",
) -> plt.Figure:
    """The small-multiples figure (see the module docstring)."""
    names = dict(zip(segments["SegmentId"].to_list(), segments["Name"].to_list(), strict=True))
    tags = dict(zip(segments["SegmentId"].to_list(), segments["Tags"].to_list(), strict=True))
    outlets = dict(zip(segments["SegmentId"].to_list(), segments["Outlets"].to_list(), strict=True))
    order = segments["SegmentId"].to_list()
    rows = chart_rows(dna, per_side, min_all_share=0.25 / max(dna["Key"].n_unique(), 1))
    columns = min(3, max(1, len(order)))
    lines = math.ceil(len(order) / columns) if order else 1
    figure, axes = plt.subplots(
        lines,
        columns,
        figsize=(5.2 * columns, 0.42 * 2 * per_side * lines + 1.2 * lines),
        squeeze=False,
    )
    for position, axis in enumerate(axes.flat):
        if position >= len(order):
            axis.axis("off")
            continue
        segment = order[position]
        data = rows.filter(pl.col("SegmentId") == segment)
        ratios = [max(-CLIP, min(CLIP, math.log2(v / 100.0))) for v in data["Index"].to_list()]
        labels = [
            f"{name[:28]} ({share:.1%})"
            for name, share in zip(data["KeyName"].to_list(), data["Share"].to_list(), strict=True)
        ]
        axis.barh(range(len(ratios)), ratios, color=[OVER if r > 0 else UNDER for r in ratios])
        axis.set_yticks(range(len(ratios)), labels, fontsize=7)
        axis.axvline(0.0, color="black", linewidth=0.8)
        limit = CLIP
        ticks = [-3, -2, -1, 0, 1, 2, 3]
        axis.set_xticks(ticks, [f"{100 * 2.0**t:g}" for t in ticks], fontsize=7)
        axis.set_xlim(-limit * 1.05, limit * 1.05)
        axis.set_xlabel("index vs all outlets (100 = average, log scale)", fontsize=7)
        axis.set_title(
            f"{segment} · {names.get(segment, '')}\n{outlets.get(segment, 0):,} outlets · "
            f"{tags.get(segment, '')}",
            fontsize=8,
            loc="left",
        )
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def dna_chart_bytes(
    dna: pl.DataFrame, segments: pl.DataFrame, per_side: int = 5, title: str = "Segment DNA"
) -> dict[str, bytes]:
    """{"png": ..., "svg": ...} of the DNA small multiples."""
    figure = dna_figure(dna, segments, per_side, title)
    out = {}
    for kind in ("png", "svg"):
        buffer = io.BytesIO()
        figure.savefig(
            buffer, format=kind, dpi=110, metadata={"Date": None} if kind == "svg" else None
        )
        out[kind] = buffer.getvalue()
    plt.close(figure)
    return out
