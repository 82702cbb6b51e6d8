"""The segments workbook: readable sheets, and long tables cut to their largest rows (the
outlet potential passes Excel's row limit at scale; the CSV keeps every row)."""

from __future__ import annotations

import io

import polars as pl
import pytest

from visitrank.pipeline import segments
from visitrank.pipeline.segments import xlsx_bytes


def sheets(workbook: bytes) -> dict[str, pl.DataFrame]:
    return pl.read_excel(io.BytesIO(workbook), sheet_id=0)


def test_a_long_sheet_keeps_its_largest_rows_in_the_tables_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(segments, "WORKBOOK_ROWS", 3)
    potential = pl.DataFrame(
        {"CustomerId": [1, 2, 3, 4, 5], "ItemId": [7, 7, 8, 8, 9], "GapValue": [1.0, 5, 3, 4, 2]}
    )
    dna = pl.DataFrame({"SegmentId": ["S1"] * 4, "Key": ["a", "b", "c", "d"]})
    mix = pl.DataFrame({"SegmentId": ["S1", "S2"], "Share": [0.25, 0.75]})
    book = sheets(xlsx_bytes({"potential": potential, "dna": dna, "mix": mix}))
    assert list(book) == ["Outlet potential (top 3)", "DNA (top 3)", "Channel and area mix"]
    kept = book["Outlet potential (top 3)"]
    # the three largest gaps (5, 3, 4), in the table's order, under the readable headers
    assert kept.columns == [segments.readable(c) for c in potential.columns]
    assert kept.get_column(segments.readable("CustomerId")).to_list() == [2, 3, 4]
    assert book["DNA (top 3)"].height == 3  # no size column: the first rows
    assert book["Channel and area mix"].height == 2  # short tables are whole


def test_sheet_names_stay_within_excels_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments, "WORKBOOK_ROWS", 1)
    monkeypatch.setitem(segments.SHEETS, "mix", "A sheet name of thirty-one chars")
    mix = pl.DataFrame({"SegmentId": ["S1", "S2"], "Share": [0.25, 0.75]})
    (name,) = sheets(xlsx_bytes({"mix": mix}))
    assert name.endswith(" (top 1)") and len(name) == 31
