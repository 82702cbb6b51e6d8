"""Strict, vectorised coercion of a raw source frame to its contract table.

Sources hand us whatever they have: CSV gives every column as text, Parquet and SQL give
native types that may be close but not equal to the contract (Datetime instead of Date, 12.0
instead of 12). :func:`coerce_table` turns such a frame into exactly the contract columns and
dtypes, or raises a :class:`~visitrank.contract.errors.ContractError` naming table, column, 1-based
row and the raw value of the first bad cell, and holding every bad cell of the frame (capped per
column) in its ``problems``. Nothing is guessed and nothing is dropped: a value
either converts exactly or the run stops with a message the data owner can act on.

Pure (no file I/O) and vectorised: every check is a polars expression, so it runs on
12M-row tables; the first bad row is located with ``arg_true`` rather than a Python loop.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from visitrank.contract.errors import PROBLEMS_PER_COLUMN, ContractError, with_problems
from visitrank.contract.tables import TableSpec

DATE_FORMATS_HELP: Final = "expected YYYY-MM-DD, YYYY-MM-DD HH:MM:SS[.f] or YYYY-MM-DDTHH:MM:SS[.f]"
TIME_FORMATS_HELP: Final = "expected HH:MM or HH:MM:SS[.f], hours 00-23"

# Shape check first: chrono alone accepts "24-01-02" as year 24 and "2024-1-2".
_DATE_SHAPE: Final = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)?$"
_TIME_SHAPE: Final = (
    r"^(?:\d{4}-\d{2}-\d{2}[ T])?(?<h>\d{1,2}):(?<m>\d{2})(?::(?<s>\d{2})(?:\.(?<f>\d{1,9}))?)?$"
)
_DAY_NANOSECONDS: Final = 24 * 3600 * 1_000_000_000
_INT64_LIMIT: Final = 2.0**63
_PARSED = "__parsed_"
_MISSING = "__missing_"


def resolve_columns(spec: TableSpec, available: list[str]) -> dict[str, str]:
    """Map each contract column to the source column that holds it.

    An exact name match wins; otherwise a unique match ignoring case and surrounding spaces
    is accepted (SQL views and spreadsheets often change header case). Extra source columns
    are ignored. An optional column (``spec.optional``) the source lacks is left out of the
    mapping (it reads as null); one matched twice ignoring case is as ambiguous as a required
    one. Raises ContractError listing every missing or ambiguous column and what was found.
    """
    exact = set(available)
    folded: dict[str, list[str]] = {}
    for name in available:
        folded.setdefault(name.strip().casefold(), []).append(name)
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for column in spec.all_columns:
        candidates = folded.get(column.casefold(), [])
        if column in exact:
            mapping[column] = column
        elif len(candidates) == 1:
            mapping[column] = candidates[0]
        elif candidates or column not in spec.optional:
            missing.append(column)
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        names = ", ".join(f"'{m}'" for m in missing)
        found = ", ".join(available) if available else "no columns"
        raise ContractError.at(spec.name, f"missing {noun} {names} (found: {found})")
    return mapping


def coerce_table(spec: TableSpec, frame: pl.DataFrame, row_offset: int = 0) -> pl.DataFrame:
    """Return ``frame`` as exactly ``spec``'s columns (``all_columns``: the required, then the
    optional ones), in contract order, with contract dtypes; an optional column the frame
    lacks is a null column.

    Accepted conversions (anything else raises one ContractError for all the bad cells, whose
    message names the first and whose ``problems`` list them, capped per column):

    * Int64: integer types; whole finite floats (``12.0``); strings holding an integer or a
      whole number (``" 12 "``, ``"12.0"``), surrounding spaces ignored.
    * Float64: numeric types; numeric strings (``"1.5"``, ``"1e3"``, ``"nan"``, ``"inf"``);
      non-finite values are kept here and set aside later by quarantine.
    * Date: Date; Datetime (time dropped); strings ``YYYY-MM-DD``,
      ``YYYY-MM-DD HH:MM:SS[.f]`` or ``YYYY-MM-DDTHH:MM:SS[.f]``.
    * Time (a time of day): Time; Datetime (date dropped, as Excel stores a time); Duration
      from 0 to under 24 hours; strings ``H:MM``, ``HH:MM``, ``HH:MM:SS`` or
      ``HH:MM:SS.f`` (up to 9 decimals, as SQL Server writes a TIME as text), optionally
      after a ``YYYY-MM-DD`` date and a space or ``T`` (dropped: a spreadsheet's time cell
      read as text is ``1899-12-31 08:00:00``).
    * String: strings as-is (an empty string is a value); other types are cast to text.

    A null, or an empty/blank string in a non-text column, is "missing": allowed in
    ``spec.nullable`` and optional columns (kept as null), an error elsewhere.

    ``row_offset`` is the number of data rows of the same source before ``frame`` (when a
    large table is coerced chunk by chunk): an error names row ``row_offset + index + 1``,
    the cell's 1-based data row in the whole source.
    """
    mapping = resolve_columns(spec, frame.columns)
    present = {column: dtype for column, dtype in spec.all_columns.items() if column in mapping}
    sources = {column: frame.schema[mapping[column]] for column in present}
    for column, target in present.items():
        _check_convertible(spec, column, target, sources[column])
    # Pass 1, one parallel scan: exact-format fast path. Text that it cannot read (padding,
    # "12.0", blanks, genuinely bad values) is re-parsed in pass 2 on just those rows.
    converted = (
        frame.lazy()
        .select(
            expr.alias(prefix + column)
            for column, target in present.items()
            for prefix, expr in zip(
                (_PARSED, _MISSING),
                _fast(target, sources[column], pl.col(mapping[column])),
                strict=True,
            )
        )
        .collect()
    )
    for column, target in present.items():
        if isinstance(sources[column], pl.String) and not isinstance(target, pl.String):
            converted = _retry_text(converted, column, target, frame.get_column(mapping[column]))
    _raise_bad(spec, frame, mapping, converted, row_offset)
    return converted.select(
        pl.col(_PARSED + column).alias(column)
        if column in present
        else pl.lit(None, dtype=dtype).alias(column)
        for column, dtype in spec.all_columns.items()
    )


def _check_convertible(
    spec: TableSpec, column: str, target: pl.DataType, source: pl.DataType
) -> None:
    ok = (
        isinstance(target, pl.String)
        or isinstance(source, pl.String | pl.Null)
        or (isinstance(target, pl.Int64 | pl.Float64) and (source.is_numeric()))
        or (isinstance(target, pl.Date) and isinstance(source, pl.Date | pl.Datetime))
        or (isinstance(target, pl.Time) and isinstance(source, pl.Time | pl.Datetime | pl.Duration))
    )
    if not ok:
        raise ContractError.at(
            spec.name,
            f"column has type {source}, which cannot be converted to {target}",
            column=column,
        )


def _fast(target: pl.DataType, source: pl.DataType, raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(converted value or null, value is missing) for a convertible column.

    For text sources this is the exact-format fast path only; see :func:`_retry_text`.
    """
    if isinstance(target, pl.String):
        return raw.cast(pl.String), raw.is_null()
    if isinstance(source, pl.String):
        return _fast_text(target, raw), raw.is_null() | (raw == "")
    if isinstance(source, pl.Null):
        return raw.cast(target), raw.is_null()
    return _typed(target, source, raw), raw.is_null()


def _typed(target: pl.DataType, source: pl.DataType, raw: pl.Expr) -> pl.Expr:
    """A typed (not text, not all-null) column converted to ``target``, null where it cannot
    be exactly."""
    if isinstance(target, pl.Int64) and not source.is_integer():
        return _whole_float(raw.cast(pl.Float64, strict=False))
    if isinstance(target, pl.Date) and isinstance(source, pl.Datetime):
        return raw.dt.date()
    if isinstance(target, pl.Time) and isinstance(source, pl.Datetime):
        return raw.dt.time()
    if isinstance(target, pl.Time) and isinstance(source, pl.Duration):
        nanoseconds = raw.dt.total_nanoseconds()
        within_a_day = (nanoseconds >= 0) & (nanoseconds < _DAY_NANOSECONDS)
        return pl.when(within_a_day).then(nanoseconds.cast(pl.Time))
    return raw.cast(target, strict=False)


def _fast_text(target: pl.DataType, raw: pl.Expr) -> pl.Expr:
    """Exact-format parse: plain integers/numbers, bare ``YYYY-MM-DD`` dates and times."""
    if isinstance(target, pl.Date):
        iso = raw.str.contains(r"^\d{4}-\d{2}-\d{2}$")
        return pl.when(iso).then(raw.str.to_date("%Y-%m-%d", strict=False))
    if isinstance(target, pl.Time):
        return _parse_time(raw)
    return raw.cast(target, strict=False)


def _retry_text(
    converted: pl.DataFrame, column: str, target: pl.DataType, raw: pl.Series
) -> pl.DataFrame:
    """Pass 2: fully parse the text cells pass 1 could not read, and patch them in."""
    parsed = converted.get_column(_PARSED + column)
    missing = converted.get_column(_MISSING + column)
    retry = (~missing & parsed.is_null()).arg_true()
    if retry.len() == 0:
        return converted
    text = raw.gather(retry).str.strip_chars().to_frame("text")
    value = pl.col("text")
    if isinstance(target, pl.Int64):
        full = pl.coalesce(value.cast(pl.Int64, strict=False), _whole_float(_as_float(value)))
    elif isinstance(target, pl.Float64):
        full = _as_float(value)
    elif isinstance(target, pl.Time):
        full = _parse_time(value)
    else:
        full = _parse_date(value)
    fixed = text.select(full.alias("parsed"), (value == "").alias("missing"))
    return converted.with_columns(
        parsed.clone().scatter(retry, fixed.get_column("parsed")),
        missing.clone().scatter(retry, fixed.get_column("missing")),
    )


def _as_float(text: pl.Expr) -> pl.Expr:
    return text.cast(pl.Float64, strict=False)


def _whole_float(value: pl.Expr) -> pl.Expr:
    """Float → Int64 only when the float is finite, whole and in range; otherwise null."""
    ok = value.is_finite() & (value == value.floor()) & (value.abs() < _INT64_LIMIT)
    return pl.when(ok).then(value.cast(pl.Int64, strict=False)).otherwise(None)


def _parse_date(text: pl.Expr) -> pl.Expr:
    """Parse the accepted date(-time) shapes; null for anything else (incl. 25:00:00)."""
    date_part = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    time_part = text.str.slice(11)
    time_ok = (time_part == "") | time_part.str.to_time("%H:%M:%S%.f", strict=False).is_not_null()
    return pl.when(text.str.contains(_DATE_SHAPE) & time_ok).then(date_part)


def _parse_time(text: pl.Expr) -> pl.Expr:
    """Parse ``H:MM``, ``HH:MM``, ``HH:MM:SS`` or ``HH:MM:SS.f`` (hours 0-23, minutes and
    seconds 0-59), optionally after a date (dropped), to a time of day; null for anything else
    (``24:00``, ``7h30``, ``16.00``)."""
    parts = text.str.extract_groups(_TIME_SHAPE)
    hour, minute, second = (parts.struct.field(name).cast(pl.Int64) for name in ("h", "m", "s"))
    fraction = parts.struct.field("f").str.pad_end(9, "0").cast(pl.Int64).fill_null(0)
    valid = (
        hour.is_between(0, 23) & minute.is_between(0, 59) & second.fill_null(0).is_between(0, 59)
    )
    nanoseconds = ((hour * 60 + minute) * 60 + second.fill_null(0)) * 1_000_000_000 + fraction
    return pl.when(valid).then(nanoseconds.cast(pl.Time))


def _raise_bad(
    spec: TableSpec,
    frame: pl.DataFrame,
    mapping: dict[str, str],
    checked: pl.DataFrame,
    row_offset: int,
) -> None:
    """Raise one error for every bad cell of the frame, listed up to ``PROBLEMS_PER_COLUMN``
    per column and counted in full, so a file with several problems is fixed in one go. The
    message is the cell with the lowest row number (ties: contract column order)."""
    if checked.height == 0:
        return
    flags = checked.select(
        _bad(column, required=column in spec.columns and column not in spec.nullable).alias(column)
        for column in spec.all_columns
        if column in mapping
    )
    counts = flags.sum().row(0, named=True)
    total = sum(int(count or 0) for count in counts.values())
    if total == 0:
        return
    problems: list[ContractError] = []
    for column, count in counts.items():
        if not count:
            continue
        indices = flags.get_column(column).arg_true().head(PROBLEMS_PER_COLUMN).to_list()
        raw = frame.get_column(mapping[column]).gather(indices).to_list()
        missing = checked.get_column(_MISSING + column).gather(indices).to_list()
        for index, value, is_missing in zip(indices, raw, missing, strict=True):
            detail = (
                "missing value (the column is required)"
                if is_missing
                else _parse_failure(spec.all_columns[column], value)
            )
            problems.append(
                ContractError.at(
                    spec.name, detail, column=column, row=row_offset + index + 1, value=value
                )
            )
    order = spec.all_column_names
    problems.sort(key=lambda problem: (problem.row or 0, order.index(problem.column or "")))
    raise with_problems(problems, total, spec.name)


def _bad(column: str, *, required: bool) -> pl.Expr:
    """A cell is bad if present but unconvertible, or missing in a required column."""
    parsed, missing = pl.col(_PARSED + column), pl.col(_MISSING + column)
    unconvertible = ~missing & parsed.is_null()
    return (unconvertible | missing) if required else unconvertible


def _parse_failure(target: pl.DataType, value: object) -> str:
    if isinstance(target, pl.Int64):
        if isinstance(value, float):
            return f"cannot convert {value!r} to an integer (not a whole number in range)"
        return f"cannot parse {value!r} as an integer"
    if isinstance(target, pl.Float64):
        return f"cannot parse {value!r} as a number"
    if isinstance(target, pl.Time):
        return f"cannot parse {value!r} as a time of day ({TIME_FORMATS_HELP})"
    return f"cannot parse {value!r} as a date ({DATE_FORMATS_HELP})"
