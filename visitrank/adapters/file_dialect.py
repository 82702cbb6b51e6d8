"""How an exported table file is written, found from the file itself, and the polars expressions
that turn its cells into the canonical text :func:`~visitrank.contract.coercion.coerce_table`
reads (ISO dates, dot decimals, null for null literals).

Real ERP and Excel exports differ from file to file; each choice is detected, unless the source
settings (:mod:`visitrank.adapters.source_settings`) pin it:

* **encoding**: a byte-order mark decides (UTF-8, UTF-16, UTF-32); otherwise a sample that
  decodes as UTF-8 is UTF-8, and a sample that does not is judged by ``charset-normalizer``
  among UTF-8 and cp1252 only (unrestricted, it calls short French cp1252 text big5 and
  German cp1250: measured). The sample is the first MiB, or, when that is plain ASCII, the
  lines around the first non-ASCII byte of the file. Neither fits: refused, with the offsets
  and charset-normalizer's unrestricted guess.
* **delimiter**: the standard library's ``csv.Sniffer`` on the first 64 KiB, restricted to
  ``,`` ``;`` tab ``|``; when it cannot decide (a one-column file), the candidate most frequent
  in the header line, else ``,``.
* **decimal mark and thousands separator**: every candidate pair is tried on the values of the
  contract's Int64/Float64 columns in the first MiB; the pair that reads the most values wins
  (for an Int64 column only whole readings count, so ``1.234`` there means 1234).
* **date format** of the contract's Date columns, among ``DATE_FORMATS``: the format that
  reads the most values; ISO values are always accepted as they are.

Ambiguity is refused rather than guessed: when two candidates read as many values but read
some value differently (``02/01/2024`` as 2 January or 1 February; ``1.234`` as 1.234 or 1234)
the whole column is consulted, and if it still cannot tell, a ContractError says so and how to
pin the choice. Dates are consulted on the whole column as soon as the sample ties, because a
file sorted by date may hold only days 1 to 12 in its first rows.

Normalisation only rewrites cells that read cleanly under the chosen format; any other cell
keeps its raw text, so coercion's error quotes exactly what is in the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Generic, Protocol, TypeVar

import charset_normalizer
import polars as pl

from visitrank.adapters.source_settings import (
    DATE_FORMATS,
    DEFAULT_NULL_VALUES,
    DELIMITERS,
    ISO_DATE,
    SETTINGS_FILE,
    FileSettings,
)
from visitrank.contract.errors import ContractError

SAMPLE_BYTES: Final = 1 << 20
"""The head of a file that detection reads (also the window around the first non-ASCII byte
is at most this long)."""

SNIFF_CHARS: Final = 64 * 1024
"""How much of the decoded head ``csv.Sniffer`` sees (it is pure Python)."""

_SCAN_BYTES: Final = 8 << 20
_NON_ASCII: Final = re.compile(rb"[\x80-\xff]")
_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its first two bytes are UTF-16 LE's BOM
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_NAMES: Final = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32"}


@dataclass(frozen=True)
class Where:
    """The table and file a detection is about, for its messages."""

    table: str
    file: str

    def error(
        self, detail: str, *, column: str | None = None, value: object = None
    ) -> ContractError:
        """A ContractError ``Table: detail`` (the detail names the file)."""
        return ContractError(
            f"{self.table}: {detail}", table=self.table, column=column, value=value
        )


class _Candidate(Protocol):
    def reading(self, cell: pl.Expr, target: pl.DataType) -> pl.Expr:
        """The canonical text of ``cell`` under this candidate, null when it does not fit."""
        ...

    def describe(self) -> str: ...


C = TypeVar("C", bound=_Candidate)


@dataclass(frozen=True)
class NumberFormat:
    """A decimal mark and a thousands separator (``""``: none)."""

    decimal: str
    thousands: str

    @property
    def canonical(self) -> bool:
        """True for what coercion reads as it is: dot decimals, no thousands separator."""
        return self.decimal == "." and not self.thousands

    def pattern(self, target: pl.DataType) -> str:
        """A whole cell holding a number written this way (surrounding blanks allowed, as
        coercion strips them); for Int64 a whole one (``12,00`` but not ``12,5``)."""
        dec, sep = _literal(self.decimal), _literal(self.thousands)
        digits = rf"(?:\d+|\d{{1,3}}(?:{sep}\d{{3}})+)" if self.thousands else r"\d+"
        if isinstance(target, pl.Int64):
            return rf"^\s*[+-]?{digits}(?:{dec}0+)?\s*$"
        return rf"^\s*[+-]?{digits}(?:{dec}\d+)?(?:[eE][+-]?\d+)?\s*$"

    def marked(self, cell: pl.Expr) -> pl.Expr:
        """Whether a cell holds a character this format rewrites (a cell without one reads the
        same under every format, so only marked cells need :meth:`reading`)."""
        decimal = "" if self.decimal == "." else self.decimal
        marks = [mark for mark in (decimal, self.thousands) if mark]
        return pl.any_horizontal(cell.str.contains(mark, literal=True) for mark in marks)

    def reading(self, cell: pl.Expr, target: pl.DataType) -> pl.Expr:
        """The cell as coercion reads it (stripped, no thousands separator, dot decimal), or
        null when it is not a number written this way."""
        text = cell.str.strip_chars()
        if self.thousands:
            text = text.str.replace_all(self.thousands, "", literal=True)
        if self.decimal != ".":
            text = text.str.replace(self.decimal, ".", literal=True)
        return pl.when(cell.str.contains(self.pattern(target))).then(text)

    def describe(self) -> str:
        """The format in a message: ``decimal "," and thousands "."``."""
        thousands = f"thousands {_quoted(self.thousands)}" if self.thousands else "no thousands"
        return f"decimal {_quoted(self.decimal)} and {thousands}"

    def pin(self) -> str:
        """The settings lines that pin this format."""
        return f"decimal = {_quoted(self.decimal)}, thousands = {_quoted(self.thousands)}"


NUMBER_FORMATS: Final = tuple(
    NumberFormat(decimal, thousands)
    for decimal, thousands in (
        (".", ""),
        (",", ""),
        (".", ","),
        (",", "."),
        (",", " "),
        (",", "\u00a0"),
        (",", "\u202f"),
        (",", "'"),
        (".", " "),
        (".", "\u00a0"),
        (".", "\u202f"),
        (".", "'"),
    )
)
"""Every (decimal, thousands) pair detection tries, in order of preference on a tie."""

_TIME: Final = (
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d{1,9})?)?"
    r"(?:\s*(?P<P>[AaPp][Mm]))?)?"
)
_FIELDS: Final = {"DD": r"(?P<d>\d{1,2})", "MM": r"(?P<m>\d{1,2})", "YYYY": r"(?P<y>\d{4})"}


@dataclass(frozen=True)
class DateFormat:
    """A non-ISO date format in its human form (``DD/MM/YYYY``): day and month of one or two
    digits, optionally followed by a time (``13:45``, ``1:45:00 PM``) that is checked and
    dropped, as coercion drops the time of an ISO date-time."""

    name: str

    @property
    def pattern(self) -> str:
        """A whole cell holding a date written this way, fields named d, m, y (and H, M, S, P
        for a time)."""
        separator = next(char for char in self.name if not char.isalpha())
        parts = self.name.split(separator)
        return r"^\s*" + _literal(separator).join(_FIELDS[part] for part in parts) + _TIME + r"\s*$"

    def reading(self, cell: pl.Expr, target: pl.DataType) -> pl.Expr:
        """The cell as an ISO date (time dropped), or null when it is not a real date (and
        valid time) written this way."""
        parts = cell.str.extract_groups(self.pattern)

        def number(name: str) -> pl.Expr:
            return parts.struct.field(name).cast(pl.Int32)

        hour, minute, second = number("H"), number("M"), number("S")
        twelve = parts.struct.field("P").is_not_null()
        time_ok = hour.is_null() | (
            pl.when(twelve).then(hour.is_between(1, 12)).otherwise(hour.is_between(0, 23))
            & minute.is_between(0, 59)
            & (second.is_null() | second.is_between(0, 59))
        )
        iso = pl.concat_str(
            parts.struct.field("y"),
            pl.lit("-"),
            parts.struct.field("m").str.zfill(2),
            pl.lit("-"),
            parts.struct.field("d").str.zfill(2),
        )
        real = iso.str.to_date("%Y-%m-%d", strict=False).is_not_null()  # no 31/02
        return pl.when(time_ok & real).then(iso)

    def describe(self) -> str:
        """The format in a message: its human form."""
        return self.name


DATE_CANDIDATES: Final = tuple(DateFormat(name) for name in DATE_FORMATS if name != ISO_DATE)
"""The non-ISO formats detection tries, in order of preference on a tie."""


@dataclass(frozen=True)
class TextLayout:
    """What a delimited text file's head tells: its encoding, delimiter, header and a sample of
    its first rows (every column as text)."""

    encoding: str
    delimiter: str
    header: list[str]
    sample: pl.DataFrame


@dataclass(frozen=True)
class ValueFormat:
    """How the values of a file are written: numbers, dates (None: no Date column) and the
    literals that mean null."""

    number: NumberFormat
    date_format: str | None
    null_values: tuple[str, ...]


@dataclass(frozen=True)
class _Decision(Generic[C]):
    """The outcome of trying candidates on some rows."""

    chosen: C
    count: int  # values the chosen candidate reads
    present: int  # values (not empty, not a null literal)
    tied: tuple[C, ...]  # the candidates reading as many values, chosen first
    rival: tuple[C, str, str] | None  # a tied one reading a value differently: column, value


# --- encoding, delimiter, header --------------------------------------------------------------


def sniff_text(path: Path, where: Where, settings: FileSettings) -> TextLayout:
    """Encoding, delimiter, header and sample rows of a delimited text file.

    ContractError for an empty file, an encoding that cannot be told or decoded, and a header
    that holds one column containing another delimiter (detection failed or a wrong pin).
    """
    encoding = settings.encoding or detect_encoding(path, where)
    text = _whole_rows(_read_head(path, encoding, where))
    if not text.strip():
        raise where.error(f"{where.file} is empty (expected at least a header row)")
    delimiter = settings.delimiter or detect_delimiter(text)
    try:
        sample = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=delimiter,
            infer_schema=False,
            empty_string_is_null=False,
        )
    except pl.exceptions.PolarsError as error:
        raise where.error(
            f"cannot read {where.file} as {encoding_label(encoding)} CSV: {error}"
        ) from error
    header = sample.columns
    _check_header(header, delimiter, where)
    return TextLayout(encoding, delimiter, header, sample)


def detect_encoding(path: Path, where: Where) -> str:
    """Python's name of the file's encoding: ``utf-8-sig``/``utf-16``/``utf-32`` from a
    byte-order mark, ``utf-8`` when the sample decodes as UTF-8 (plain ASCII included), else
    ``cp1252`` when charset-normalizer finds the sample reads as cp1252 text; ContractError
    otherwise."""
    with path.open("rb") as file:
        head = file.read(SAMPLE_BYTES)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    sample, start = _encoding_sample(path, head)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as not_utf8:
        utf8_error = not_utf8
    else:
        return "utf-8"
    match = charset_normalizer.from_bytes(sample, cp_isolation=["utf_8", "cp1252"]).best()
    if match is not None and match.encoding == "cp1252":
        return "cp1252"
    raise where.error(f"{where.file} {_undetected(sample, start, utf8_error)}")


def _encoding_sample(path: Path, head: bytes) -> tuple[bytes, int]:
    """(bytes to judge the encoding on, their offset in the file): the head, unless it is plain
    ASCII and the file goes on, then whole lines around the file's first non-ASCII byte (an
    ASCII file is scanned to its end: measured 0.05 s for 173 MB from the page cache)."""
    if not head.isascii() or len(head) < SAMPLE_BYTES:
        return _whole_lines(head, 0, at_end=len(head) < SAMPLE_BYTES), 0
    offset = len(head)
    with path.open("rb") as file:
        file.seek(offset)
        while chunk := file.read(_SCAN_BYTES):
            found = None if chunk.isascii() else _NON_ASCII.search(chunk)
            if found is not None:
                start = max(0, offset + found.start() - SAMPLE_BYTES // 2)
                file.seek(start)
                window = file.read(SAMPLE_BYTES)
                at_end = file.read(1) == b""
                return _whole_lines(window, start, at_end=at_end), start
            offset += len(chunk)
    return head, 0


def _whole_lines(data: bytes, start: int, *, at_end: bool) -> bytes:
    """``data`` without a partial first line (unless it starts the file) and a partial last
    line (unless it ends the file), so no multi-byte character is cut."""
    if start > 0:
        data = data[data.find(b"\n") + 1 :]
    if not at_end:
        data = data[: data.rfind(b"\n") + 1]
    return data


def _undetected(sample: bytes, start: int, utf8_error: UnicodeDecodeError) -> str:
    reasons = [f"not UTF-8 ({_bad_byte(sample, start, utf8_error)})"]
    try:
        sample.decode("cp1252")
    except UnicodeDecodeError as error:
        reasons.append(f"not cp1252 ({_bad_byte(sample, start, error)})")
    else:
        reasons.append("its text read as cp1252 does not look like text (charset-normalizer)")
    guess = charset_normalizer.from_bytes(sample).best()
    hint = f"; it may be {guess.encoding}" if guess is not None else ""
    return (
        f"has an encoding that cannot be told: {' and '.join(reasons)}{hint}: pin it with "
        f'encoding = "..." (e.g. "latin-1", "cp1250", "cp1251") in {SETTINGS_FILE}'
    )


def _bad_byte(data: bytes, start: int, error: UnicodeDecodeError) -> str:
    return f"byte 0x{data[error.start]:02x} at offset {start + error.start}"


def _read_head(path: Path, encoding: str, where: Where) -> str:
    """The first ``SAMPLE_BYTES`` of the file decoded (a character cut at the end is left
    out), without a byte-order mark."""
    with path.open("rb") as file:
        head = file.read(SAMPLE_BYTES)
        at_end = file.read(1) == b""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        text = decoder.decode(head, final=at_end)
    except UnicodeDecodeError as error:
        raise where.error(undecodable(where.file, encoding, head, 0, error)) from error
    return text.removeprefix("\ufeff")


def undecodable(
    file: str, encoding: str, data: bytes, start: int, error: UnicodeDecodeError
) -> str:
    """The message detail for bytes of ``file`` that ``encoding`` cannot decode: which byte,
    where (``start`` is the offset of ``data`` in the file)."""
    label = encoding_label(encoding)
    return (
        f"cannot read {file} as {label} CSV: {_bad_byte(data, start, error)} is not valid "
        f'{label} (pin the file\'s encoding with encoding = "...", e.g. "cp1252", in '
        f"{SETTINGS_FILE})"
    )


def encoding_label(encoding: str) -> str:
    """How messages name an encoding (``UTF-8`` for Python's ``utf-8`` and ``utf-8-sig``)."""
    return _NAMES.get(encoding, encoding)


def _whole_rows(text: str) -> str:
    """``text`` up to its last line end outside a quoted field, so that the sample parses (a
    quoted field may hold line ends); all of it when it has no such line end."""
    quotes = text.count('"')
    end = len(text)
    while (newline := text.rfind("\n", 0, end)) >= 0:
        quotes -= text.count('"', newline, end)
        if quotes % 2 == 0:
            return text[: newline + 1]
        end = newline
    return text


def detect_delimiter(text: str) -> str:
    """``csv.Sniffer``'s choice among ``DELIMITERS`` on the head of ``text``; when it cannot
    decide, the candidate most frequent in the header line, else ``,``."""
    head = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in head:
        head = head[: head.rfind("\n") + 1]
    try:
        return csv.Sniffer().sniff(head, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        first = head.split("\n", 1)[0]
        counts = {delimiter: first.count(delimiter) for delimiter in DELIMITERS}
        best = max(counts, key=lambda delimiter: counts[delimiter])
        return best if counts[best] else ","


def _check_header(header: list[str], delimiter: str, where: Where) -> None:
    if len(header) != 1:
        return
    others = [d for d in DELIMITERS if d != delimiter and d in header[0]]
    if others:
        likely = max(others, key=header[0].count)
        raise where.error(
            f"{where.file} has one column {header[0]!r}: the delimiter looks like {likely!r} "
            f"(pin it with delimiter = {_quoted(likely)} in {SETTINGS_FILE})"
        )


# --- numbers and dates ------------------------------------------------------------------------


def detect_values(
    sample: pl.LazyFrame,
    full: Callable[[], pl.LazyFrame],
    columns: Mapping[str, pl.DataType],
    settings: FileSettings,
    where: Where,
) -> ValueFormat:
    """The number and date formats of a file's text ``columns`` (source column -> contract
    dtype), from ``sample`` (its first rows), and from ``full()`` (every row, only called
    when the sample cannot tell); pinned settings win. ContractError when still ambiguous."""
    nulls = settings.null_values if settings.null_values is not None else DEFAULT_NULL_VALUES
    numbers = {c: t for c, t in columns.items() if isinstance(t, pl.Int64 | pl.Float64)}
    dates = {c: t for c, t in columns.items() if isinstance(t, pl.Date)}
    number = _numbers(sample, full, numbers, settings, nulls, where)
    date_format = settings.date_format or _dates(sample, full, dates, nulls, where)
    if not dates:
        date_format = None
    return ValueFormat(number, date_format, nulls)


def _numbers(
    sample: pl.LazyFrame,
    full: Callable[[], pl.LazyFrame],
    columns: Mapping[str, pl.DataType],
    settings: FileSettings,
    nulls: tuple[str, ...],
    where: Where,
) -> NumberFormat:
    candidates = [
        f
        for f in NUMBER_FORMATS
        if settings.decimal in (None, f.decimal) and settings.thousands in (None, f.thousands)
    ]
    # never empty: NUMBER_FORMATS holds every pair, and the settings refuse decimal == thousands
    if len(candidates) == 1 or not columns:
        return candidates[0]
    decision = _decide(sample, columns, candidates, nulls)
    if decision.rival is not None:
        decision = _decide(full(), columns, decision.tied, nulls)
    if decision.rival is not None:
        rival, column, value = decision.rival
        chosen, target = decision.chosen, columns[column]
        raise where.error(
            f"{where.file} has numbers whose format cannot be told: {decision.count} values read "
            f"with {chosen.describe()} and as many with {rival.describe()}, but differently: "
            f"{value!r} in {column} is {_read(chosen, value, target)} with the first and "
            f"{_read(rival, value, target)} with the second. Pin the right one under "
            f"[files.{where.table}] in {SETTINGS_FILE}: {chosen.pin()}, or {rival.pin()}",
            column=column,
            value=value,
        )
    return decision.chosen


def _dates(
    sample: pl.LazyFrame,
    full: Callable[[], pl.LazyFrame],
    columns: Mapping[str, pl.DataType],
    nulls: tuple[str, ...],
    where: Where,
) -> str | None:
    if not columns:
        return None
    decision = _decide(sample, columns, DATE_CANDIDATES, nulls)
    if decision.present == 0:
        decision = _decide(full(), columns, DATE_CANDIDATES, nulls)
    elif decision.count > 0 and len(decision.tied) > 1:
        decision = _decide(full(), columns, decision.tied, nulls)
    if decision.rival is not None:
        rival, column, value = decision.rival
        names = ", ".join(columns)
        first, second = decision.chosen.describe(), rival.describe()
        raise where.error(
            f"{where.file} has dates that fit both {first} and {second} in every row (no day "
            f"above 12 in {names}), e.g. {value!r} in {column}: which one cannot be told, so "
            f'pin it with date_format = "{first}" or date_format = "{second}" under '
            f"[files.{where.table}] (or [files] for every file) in {SETTINGS_FILE}",
            column=column,
            value=value,
        )
    return decision.chosen.describe() if decision.count > 0 else ISO_DATE


def _decide(
    frame: pl.LazyFrame,
    columns: Mapping[str, pl.DataType],
    candidates: Sequence[C],
    nulls: tuple[str, ...],
) -> _Decision[C]:
    """The candidate reading the most values of ``columns`` (the first on a tie), with the
    tied ones and, if one of them reads some value differently, that rival and value."""
    present = [pl.col(column).str.strip_chars().ne("") for column in columns]
    if nulls:
        present = [
            cell & ~pl.col(column).is_in(nulls)
            for cell, column in zip(present, columns, strict=True)
        ]
    counts = frame.select(
        *(
            pl.sum_horizontal(
                candidate.reading(pl.col(column), target).is_not_null().sum()
                for column, target in columns.items()
            ).alias(f"c{index}")
            for index, candidate in enumerate(candidates)
        ),
        pl.sum_horizontal(cell.sum() for cell in present).alias("present"),
    ).collect()
    tally = [int(counts.item(0, f"c{index}")) for index in range(len(candidates))]
    best = max(tally)
    tied = tuple(c for c, n in zip(candidates, tally, strict=True) if n == best)
    chosen = tied[0]
    rival: tuple[C, str, str] | None = None
    if best > 0 and len(tied) > 1:
        pairs = [(other, column) for other in tied[1:] for column in columns]
        examples = frame.select(
            pl.col(column)
            .filter(
                chosen.reading(pl.col(column), columns[column]).ne_missing(
                    other.reading(pl.col(column), columns[column])
                )
            )
            .first()
            .alias(f"e{index}")
            for index, (other, column) in enumerate(pairs)
        ).collect()
        for index, (other, column) in enumerate(pairs):
            value = examples.item(0, f"e{index}")
            if value is not None:
                rival = (other, column, value)
                break
    return _Decision(chosen, best, int(counts.item(0, "present")), tied, rival)


def _read(candidate: _Candidate, value: str, target: pl.DataType) -> str:
    reading = pl.select(candidate.reading(pl.lit(value), target)).item()
    return "not a number" if reading is None else repr(float(reading))


# --- normalisation ----------------------------------------------------------------------------


def normalise(
    frame: pl.DataFrame, columns: Mapping[str, pl.DataType], values: ValueFormat
) -> pl.DataFrame:
    """``frame`` with each text column of ``columns`` (source name -> contract dtype) rewritten
    to what coercion reads: numbers in the detected format to dot decimals without thousands
    separators, dates in the detected format to ISO, null literals to null. A cell that does
    not read cleanly keeps its raw text, so coercion's error quotes it.

    Numbers are rewritten only in the cells that hold a decimal comma or thousands separator
    (found by a literal search, then gathered and scattered back): on 6M rows of an Int64
    column that is 0.05 s, where rewriting every cell costs 0.6 s.
    """
    date_format = None
    if values.date_format not in (None, ISO_DATE):
        date_format = DateFormat(str(values.date_format))
    number = values.number
    for column, target in columns.items():
        cell = pl.col(column)
        if isinstance(target, pl.Int64 | pl.Float64) and not number.canonical:
            raw = frame.get_column(column)
            rows = frame.select(number.marked(cell)).to_series().arg_true()
            if rows.len():
                fixed = (
                    raw.gather(rows)
                    .to_frame()
                    .select(pl.coalesce(number.reading(cell, target), cell))
                    .to_series()
                )
                frame = frame.with_columns(raw.clone().scatter(rows, fixed))
        elif isinstance(target, pl.Date) and date_format is not None:
            frame = frame.with_columns(
                pl.coalesce(date_format.reading(cell, target), cell).alias(column)
            )
        if values.null_values:
            frame = frame.with_columns(
                pl.when(cell.is_in(values.null_values)).then(None).otherwise(cell).alias(column)
            )
    return frame


def _literal(char: str) -> str:
    """A regular expression matching ``char`` (one of the delimiters, marks or separators),
    written as a class so it needs no escaping in either regex dialect."""
    return f"[{char}]"


def _quoted(text: str) -> str:
    """``text`` in double quotes with escapes, as written in TOML (``"\\t"`` for a tab)."""
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
