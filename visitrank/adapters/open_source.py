"""The local commands' ``--source``: a folder of MV_ files or an ODBC connection string.

``open_source`` turns the argument into a :class:`~visitrank.contract.source.TableSource`:

* an existing folder -> :class:`~visitrank.adapters.file_source.FileSource`;
* ``odbc:<connection string>``, or text naming an ODBC ``Driver=`` or ``DSN=`` (any case) ->
  :class:`~visitrank.adapters.odbc_source.OdbcSource`;
* ``env:<VARIABLE>`` -> the same, read from that environment variable, so that a connection
  string with a password never lands in the shell history or the process list.

The SQL reader and batch size come from ``VISITRANK_SQL_READER`` and
``VISITRANK_SQL_BATCH_SIZE``, as in the Azure app. Anything else is a ContractError, whose
message masks any secret the text holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from visitrank.adapters.app_settings import Settings, SettingsError
from visitrank.adapters.connection_string import mask_secrets
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.source_settings import load_source_settings
from visitrank.contract.errors import ContractError
from visitrank.contract.source import TableSource

if TYPE_CHECKING:
    from visitrank.adapters.odbc_source import OdbcSource

ODBC_PREFIX: Final = "odbc:"
ENV_PREFIX: Final = "env:"
READER_SETTINGS: Final = ("VISITRANK_SQL_READER", "VISITRANK_SQL_BATCH_SIZE")
_ODBC_KEYWORD: Final = re.compile(r"(driver|dsn)\s*=", re.IGNORECASE)

SOURCE_HELP: Final = (
    "a folder of MV_ tables, or an ODBC connection string (odbc:..., Driver=...;..., or "
    "env:VARIABLE)"
)
"""The ``--source`` help text of the local commands."""


def open_source(
    text: str, env: Mapping[str, str] | None = None, settings_path: Path | None = None
) -> TableSource:
    """The table source ``text`` names (see the module docstring); ``env`` defaults to the
    process environment. ContractError when it names neither a folder nor a connection
    string, or when ``env:`` names an unset variable.

    ``settings_path``: the source settings file (file dialects, value mappings); a folder's
    default is the ``visitrank-source.toml`` beside its tables, a database has none unless
    given (only its value mappings apply)."""
    environment = os.environ if env is None else env
    value = text.strip()
    if value.casefold().startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :].strip()
        if not name:
            raise ContractError(f"{text!r}: env: needs a variable name, e.g. env:VISITRANK_SQL")
        value = environment.get(name, "").strip()
        if not value:
            raise ContractError(
                f"environment variable {name} is not set (--source env:{name} reads the "
                "folder or ODBC connection string from it)"
            )
    if value.casefold().startswith(ODBC_PREFIX):
        return odbc_source(value[len(ODBC_PREFIX) :], environment, settings_path)
    if _is_folder(value):
        folder = Path(value)
        return FileSource(folder, load_source_settings(folder, settings_path))
    if _ODBC_KEYWORD.search(value):
        return odbc_source(value, environment, settings_path)
    raise ContractError(
        f"not a folder and not an ODBC connection string: {mask_secrets(value)!r} (expected an "
        "existing folder of MV_ tables, odbc:..., Driver=...;..., DSN=...;..., or env:VARIABLE)"
    )


def odbc_source(
    connection_string: str, env: Mapping[str, str], settings_path: Path | None = None
) -> OdbcSource:
    """An OdbcSource with the reader and batch size of ``VISITRANK_SQL_READER`` and
    ``VISITRANK_SQL_BATCH_SIZE`` in ``env`` (validated as the Azure app does) and the value
    mappings of the settings file at ``settings_path``, if any."""
    try:
        settings = Settings.from_env({name: env[name] for name in READER_SETTINGS if name in env})
    except SettingsError as error:
        raise ContractError(str(error)) from error
    values = (
        load_source_settings(settings_path.parent, settings_path).values
        if settings_path is not None
        else {}
    )
    # loaded here: reading files must not need the ODBC driver manager (unixODBC)
    try:
        from visitrank.adapters.odbc_source import OdbcSource  # noqa: PLC0415
    except ImportError as error:
        raise ContractError(
            f"reading {mask_secrets(connection_string)!r} needs ODBC, which cannot load here "
            f"({error}): install the driver manager and a driver (`make azure-deps`, or "
            "`apt-get install unixodbc` and the database's ODBC driver)"
        ) from error
    return OdbcSource(
        connection_string,
        batch_size=settings.sql_batch_size,
        reader=settings.sql_reader,
        values=values,
    )


def as_source(source: TableSource | Path) -> TableSource:
    """``source`` itself, or a folder as its FileSource (the local steps' callers may pass
    either)."""
    return FileSource(source) if isinstance(source, Path) else source


def _is_folder(text: str) -> bool:
    try:
        return bool(text) and Path(text).is_dir()
    except (OSError, ValueError):  # a connection string too long or odd for a path
        return False
