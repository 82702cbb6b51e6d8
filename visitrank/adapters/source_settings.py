"""The source settings file beside the tables: ``visitrank-source.toml``.

Real exports are read "as they come" (see :mod:`visitrank.adapters.file_dialect` and
``docs/file-dialects.md``); this small TOML file pins whatever detection should not decide, for
every file (``[files]``) or one table (``[files.MV_Sales]``), and carries value mappings
(``[values.Channel]``: raw value -> contract value) for the steps that apply them::

    [files]
    encoding = "cp1252"
    delimiter = ";"
    decimal = ","
    thousands = "."
    date_format = "DD/MM/YYYY"
    null_values = ["NULL", "n/a"]

    [files.MV_Sales]
    date_format = "MM/DD/YYYY"

    [files.MV_SetupCustomer]
    sheet = "Clients"

    [values.Channel]
    HORECA = "ON_TRADE"
    RETAIL = "OFF_TRADE"

Everything is checked when the file is loaded: an unknown key or table, or a value that cannot
be used, is a ContractError naming the file, the key and the value (with "did you mean" for a
near key), so a typo never silently falls back to detection.
"""

from __future__ import annotations

import codecs
import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from visitrank.contract.errors import ContractError
from visitrank.contract.tables import ALL_TABLES
from visitrank.contract.value_map import CODED_COLUMNS, ValueMap, checked_value_map

SETTINGS_FILE: Final = "visitrank-source.toml"
"""The settings file's name, looked up in the data folder."""

DELIMITERS: Final = (",", ";", "\t", "|")
"""Field delimiters that detection considers and a setting may pin."""

DECIMALS: Final = (".", ",")
"""Decimal marks."""

THOUSANDS: Final = ("", ",", ".", " ", "\u00a0", "\u202f", "'")
"""Thousands separators: none, comma, dot, space, no-break space, narrow no-break space (French
Excel), apostrophe (Swiss)."""

ISO_DATE: Final = "YYYY-MM-DD"
DATE_FORMATS: Final = (
    ISO_DATE,
    "DD/MM/YYYY",
    "MM/DD/YYYY",
    "DD.MM.YYYY",
    "MM.DD.YYYY",
    "DD-MM-YYYY",
    "MM-DD-YYYY",
    "YYYY/MM/DD",
    "YYYY.MM.DD",
)
"""Date formats in their human form (day and month may have one digit; a time part after the
date is accepted and dropped)."""

DEFAULT_NULL_VALUES: Final = ("NULL",)
"""Cells that mean "no value" besides empty ones (SQL Server Management Studio writes NULL)."""


@dataclass(frozen=True)
class FileSettings:
    """How to read a file; None (the default) for a choice left to detection.

    ``thousands = ""`` pins "no thousands separator"; ``null_values = []`` pins "no null
    literal"; ``sheet`` is an Excel sheet's name or its 1-based position.
    """

    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    date_format: str | None = None
    null_values: tuple[str, ...] | None = None
    sheet: str | int | None = None

    def pinned(self) -> list[str]:
        """The names of the settings this pins, in declaration order."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def over(self, base: FileSettings) -> FileSettings:
        """This table's settings laid over ``base`` (the ``[files]`` section)."""
        return replace(base, **{name: getattr(self, name) for name in self.pinned()})


KEYS: Final = tuple(f.name for f in fields(FileSettings))


@dataclass(frozen=True)
class SourceSettings:
    """The loaded settings file (all defaults when there is none).

    ``files`` applies to every file, ``tables`` overrides it per table; ``values`` maps, per
    coded column, a raw source value (trimmed, upper-cased) to the contract value: checked
    here, applied after coercion by :class:`~visitrank.contract.value_map.MappedSource`.
    """

    files: FileSettings = FileSettings()
    tables: Mapping[str, FileSettings] = field(default_factory=dict)
    values: ValueMap = field(default_factory=dict)
    path: Path | None = None

    def for_table(self, table: str) -> FileSettings:
        """The settings that apply to ``table``'s file."""
        own = self.tables.get(table)
        return self.files if own is None else own.over(self.files)


def load_source_settings(folder: Path, path: Path | None = None) -> SourceSettings:
    """The settings of the data ``folder``: ``path`` if given, else ``folder /
    visitrank-source.toml`` when it exists, else the defaults (everything detected).

    ContractError when the file is missing (an explicit ``path``), does not parse, or holds an
    unknown key or table or a value that cannot be used; the message names the file and key.
    """
    if path is None:
        path = Path(folder) / SETTINGS_FILE
        if not path.is_file():
            return SourceSettings()
    elif not path.is_file():
        raise ContractError(f"source settings file not found: {path}")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ContractError(f"{path}: cannot read the source settings file: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ContractError(f"{path}: does not parse as TOML: {error}") from error
    return _parse(path, document)


def _parse(path: Path, document: dict[str, Any]) -> SourceSettings:
    _known(path, "", document, ("files", "values"), "section")
    files = _table(path, "files", document.get("files", {}))
    defaults: dict[str, Any] = {}
    tables: dict[str, FileSettings] = {}
    for key, value in files.items():
        if key in ALL_TABLES or isinstance(value, dict):
            if key not in ALL_TABLES:
                raise ContractError(
                    f"{path}: [files.{key}] is not a contract table{_did_you_mean(key, ALL_TABLES)}"
                )
            section = _table(path, f"files.{key}", value)
            _known(path, f"files.{key}", section, KEYS, "key")
            tables[key] = _file_settings(path, f"files.{key}", section)
        else:
            defaults[key] = value
    _known(path, "files", defaults, KEYS, "key")
    base = _file_settings(path, "files", defaults)
    for table, own in tables.items():
        _check_marks(path, f"files.{table}", own.over(base))
    values = _values(path, _table(path, "values", document.get("values", {})))
    return SourceSettings(files=base, tables=tables, values=values, path=path)


def _table(path: Path, section: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContractError(f"{path}: {section} = {value!r} must be a table ([{section}])")
    return value


def _known(
    path: Path, section: str, table: Mapping[str, Any], known: tuple[str, ...], noun: str
) -> None:
    """ContractError for the first key of ``table`` that is not in ``known``."""
    for key in table:
        if key not in known:
            where = f"[{section}] " if section else ""
            raise ContractError(
                f"{path}: {where}unknown {noun} {key!r}{_did_you_mean(key, known)} "
                f"(known: {', '.join(known)})"
            )


def _did_you_mean(key: str, known: Mapping[str, Any] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if not close:
        folded = [k for k in known if k.casefold() == key.casefold()]
        close = folded[:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _file_settings(path: Path, section: str, raw: dict[str, Any]) -> FileSettings:
    """Check and normalise one ``[files]`` / ``[files.<Table>]`` section."""

    def bad(key: str, expected: str) -> ContractError:
        return ContractError(
            f"{path}: [{section}] {key} = {_toml(raw[key])} is not usable: {expected}"
        )

    def choice(key: str, allowed: tuple[str, ...]) -> str | None:
        if key not in raw:
            return None
        if raw[key] not in allowed:
            raise bad(key, "expected one of " + ", ".join(_toml(a) for a in allowed))
        return str(raw[key])

    encoding = raw.get("encoding")
    if encoding is not None:
        encoding = _encoding(encoding)
        if encoding is None:
            raise bad("encoding", 'expected a text encoding Python knows, e.g. "cp1252"')
    date_format = raw.get("date_format")
    if date_format is not None:
        known = {name.upper(): name for name in DATE_FORMATS}
        if not isinstance(date_format, str) or date_format.upper() not in known:
            raise bad("date_format", "expected one of " + ", ".join(DATE_FORMATS))
        date_format = known[date_format.upper()]
    null_values = raw.get("null_values")
    if null_values is not None:
        if not isinstance(null_values, list) or not all(isinstance(v, str) for v in null_values):
            raise bad("null_values", 'expected a list of strings, e.g. ["NULL", "n/a"]')
        null_values = tuple(null_values)
    sheet = raw.get("sheet")
    if sheet is not None and not (
        (isinstance(sheet, str) and sheet.strip())
        or (isinstance(sheet, int) and not isinstance(sheet, bool) and sheet >= 1)
    ):
        raise bad("sheet", "expected a sheet name or its position from 1")
    settings = FileSettings(
        encoding=encoding,
        delimiter=choice("delimiter", DELIMITERS),
        decimal=choice("decimal", DECIMALS),
        thousands=choice("thousands", THOUSANDS),
        date_format=date_format,
        null_values=null_values,
        sheet=sheet,
    )
    _check_marks(path, section, settings)
    return settings


def _encoding(name: Any) -> str | None:
    """Python's name of a text encoding, or None if ``name`` is not one."""
    if not isinstance(name, str):
        return None
    try:
        info = codecs.lookup(name)
        "".encode(info.name)  # refuses str-to-str and bytes-to-bytes codecs (rot13, base64)
    except LookupError:
        return None
    return info.name


def _check_marks(path: Path, section: str, settings: FileSettings) -> None:
    if settings.decimal is not None and settings.decimal == settings.thousands:
        raise ContractError(
            f"{path}: [{section}] decimal and thousands are both {_toml(settings.decimal)}: "
            "a number's decimal mark and thousands separator must differ"
        )


def _values(path: Path, raw: dict[str, Any]) -> ValueMap:
    """``[values.<Column>]`` tables, checked and normalised by
    :func:`~visitrank.contract.value_map.checked_value_map` (the rule the steps apply them
    by): coded column -> {raw value (trimmed, upper-cased): contract value}."""
    for column, mapping in raw.items():
        if column not in CODED_COLUMNS:
            raise ContractError(
                f"{path}: [values.{column}] is not a column whose values can be mapped "
                f"(mappable: {', '.join(CODED_COLUMNS)}){_did_you_mean(column, CODED_COLUMNS)}",
                column=column,
            )
        if not isinstance(mapping, dict):
            raise ContractError(
                f"{path}: values.{column} = {_toml(mapping)} must be a table of "
                f'raw value = "contract value" ([values.{column}])'
            )
        for source, target in mapping.items():
            if not isinstance(target, str):
                raise ContractError(
                    f"{path}: [values.{column}] {_toml(source)} = {_toml(target)} is not usable: "
                    "expected the contract value as a string"
                )
    return checked_value_map(raw, str(path))


def _toml(value: Any) -> str:
    """``value`` as it would be written in TOML (strings in double quotes, escapes kept)."""
    if isinstance(value, str):
        escaped = value.encode("unicode_escape").decode("ascii").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return repr(value)
