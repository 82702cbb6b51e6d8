"""The Azure app's settings: read once from the environment into one frozen object.

Why one object: the adapters (SQL source, Blob staging, Cosmos sink) and the activities get
their configuration passed in, so nothing deep in the code reads ``os.environ`` and tests can
build a ``Settings`` by hand. Every setting is listed in ``local.settings.example.json`` and in
``docs/azure.md``.

Credentials: where no key or connection string is given, the adapters use managed identity
(``DefaultAzureCredential``); in Azure the Bicep template sets only endpoints, never keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from pydantic import BaseModel

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig
from scoring.segmentation_config import SegmentationConfig
from visitrank.pipeline.run_config import RunConfig, RunConfigError, run_config, sections_of

DEFAULT_SCHEDULE: Final = "0 0 5-23 * * 1"
"""NCRONTAB (with seconds): every hour of Monday from 05:00 UTC (Flex Consumption ignores time
zones). The first firing starts the week; later ones only rerun a week whose run failed
(bounded), or start one missed."""

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
SQL_READERS: Final = ("auto", "arrow", "pyodbc")
READ_ACCESS_MODES: Final = ("key", "principal")
"""Who may read the lists and orders: any function-key holder, or the signed-in caller's reps
(Easy Auth principal; see api/access.py and docs/azure.md)."""
"""``VISITRANK_SQL_READER``: bulk reads through arrow-odbc, pyodbc, or arrow-odbc when installed."""


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the Azure app reads from its app settings (see docs/azure.md).

    Attributes:
        sql_connection_string: ODBC connection string of the ERP database holding the MV_
            views (SQL Server ODBC Driver 18 in production; a Key Vault reference in Azure).
        sql_batch_size: rows fetched per ``fetchmany`` round trip (per arrow-odbc batch).
        sql_reader: how the bulk tables (sales headers and lines, visits) are read: "arrow"
            (arrow-odbc), "pyodbc", or "auto" (arrow-odbc when importable, else pyodbc).
        blob_connection_string: Storage connection string for the staging container, or None
            to use ``blob_account_url`` with managed identity.
        blob_account_url: ``https://<account>.blob.core.windows.net`` (identity auth).
        staging_container: Blob container for the per-run Parquet staging.
        cosmos_endpoint: Cosmos DB account endpoint.
        cosmos_key: account key (emulator / local only); None means managed identity.
        cosmos_database, cosmos_container: where the weekly rep documents live.
        cosmos_orders_container: the proposed-order documents (partition key ``/customerId``).
        cosmos_segments_container: the segment and outlet documents (partition key ``/pk``).
        cosmos_verify_tls: False only for the local emulator's self-signed certificate.
        cosmos_max_workers: bounded parallelism of document upserts.
        schedule: the timer's NCRONTAB expression (resolved by the host as %VISITRANK_SCHEDULE%).
        read_access: ``VISITRANK_READ_ACCESS``, who may read the read endpoints (``key`` or
            ``principal``, ``READ_ACCESS_MODES``).
        config_values: the run configuration (``VISITRANK_CONFIG``): a JSON object with one
            object per section (``scoring``, ``orders``, ``segmentation``), as a config file.
        scoring_overrides: ScoringConfig fields to override, from a JSON object (applied after
            ``config_values``; also for the two settings below).
        order_overrides: OrderConfig fields to override (the proposed orders), a JSON object.
        segmentation_overrides: SegmentationConfig fields to override (the behaviour
            segments), a JSON object.
    """

    sql_connection_string: str | None = None
    sql_batch_size: int = 50_000
    sql_reader: str = "auto"
    blob_connection_string: str | None = None
    blob_account_url: str | None = None
    staging_container: str = "visitrank-staging"
    cosmos_endpoint: str | None = None
    cosmos_key: str | None = field(default=None, repr=False)
    cosmos_database: str = "visitrank"
    cosmos_container: str = "visit-lists"
    cosmos_orders_container: str = "orders"
    cosmos_segments_container: str = "segments"
    cosmos_verify_tls: bool = True
    cosmos_max_workers: int = 8
    schedule: str = DEFAULT_SCHEDULE
    read_access: str = "key"
    config_values: Mapping[str, Any] = field(default_factory=dict)
    scoring_overrides: Mapping[str, Any] = field(default_factory=dict)
    order_overrides: Mapping[str, Any] = field(default_factory=dict)
    segmentation_overrides: Mapping[str, Any] = field(default_factory=dict)

    def run_config(self) -> RunConfig:
        """The run configuration: defaults, updated by ``VISITRANK_CONFIG``, then by the
        per-section settings (``VISITRANK_SCORING_CONFIG``, ``VISITRANK_ORDER_CONFIG``,
        ``VISITRANK_SEGMENTATION_CONFIG``): the same loader as a config file."""
        sections = sections_of(self.config_values, flat_is_scoring=False)
        for section, overrides in (
            ("scoring", self.scoring_overrides),
            ("orders", self.order_overrides),
            ("segmentation", self.segmentation_overrides),
        ):
            sections[section] = {**sections.get(section, {}), **overrides}
        return run_config(sections)

    def scoring_config(self) -> ScoringConfig:
        """The scoring section of :meth:`run_config`."""
        return self.run_config().scoring

    def order_config(self) -> OrderConfig:
        """The proposed orders' section of :meth:`run_config`."""
        return self.run_config().orders

    def segmentation_config(self) -> SegmentationConfig:
        """The behaviour segmentation's section of :meth:`run_config`."""
        return self.run_config().segmentation

    def require_sql(self) -> str:
        """The SQL connection string, or SettingsError naming the missing setting."""
        if not self.sql_connection_string:
            raise SettingsError("VISITRANK_SQL_CONNECTION_STRING is not set")
        return self.sql_connection_string

    def require_cosmos(self) -> str:
        """The Cosmos endpoint, or SettingsError naming the missing setting."""
        if not self.cosmos_endpoint:
            raise SettingsError("VISITRANK_COSMOS_ENDPOINT is not set")
        return self.cosmos_endpoint

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping (``os.environ`` in the app)."""
        blob_conn = _text(env, "VISITRANK_BLOB_CONNECTION_STRING")
        blob_url = _text(env, "VISITRANK_BLOB_ACCOUNT_URL")
        if blob_conn is None and blob_url is None:
            blob_conn, blob_url = _from_webjobs_storage(env)
        return cls(
            sql_connection_string=_text(env, "VISITRANK_SQL_CONNECTION_STRING"),
            sql_batch_size=_int(env, "VISITRANK_SQL_BATCH_SIZE", 50_000),
            sql_reader=_choice(env, "VISITRANK_SQL_READER", SQL_READERS),
            blob_connection_string=blob_conn,
            blob_account_url=blob_url,
            staging_container=_text(env, "VISITRANK_STAGING_CONTAINER") or "visitrank-staging",
            cosmos_endpoint=_text(env, "VISITRANK_COSMOS_ENDPOINT"),
            cosmos_key=_text(env, "VISITRANK_COSMOS_KEY"),
            cosmos_database=_text(env, "VISITRANK_COSMOS_DATABASE") or "visitrank",
            cosmos_container=_text(env, "VISITRANK_COSMOS_CONTAINER") or "visit-lists",
            cosmos_orders_container=_text(env, "VISITRANK_COSMOS_ORDERS_CONTAINER") or "orders",
            cosmos_segments_container=_text(env, "VISITRANK_COSMOS_SEGMENTS_CONTAINER")
            or "segments",
            cosmos_verify_tls=_bool(env, "VISITRANK_COSMOS_VERIFY_TLS", default=True),
            cosmos_max_workers=_int(env, "VISITRANK_COSMOS_MAX_WORKERS", 8),
            schedule=_text(env, "VISITRANK_SCHEDULE") or DEFAULT_SCHEDULE,
            read_access=_choice(env, "VISITRANK_READ_ACCESS", READ_ACCESS_MODES),
            config_values=_run_config_values(env, "VISITRANK_CONFIG"),
            scoring_overrides=_json_object(env, "VISITRANK_SCORING_CONFIG", ScoringConfig),
            order_overrides=_json_object(env, "VISITRANK_ORDER_CONFIG", OrderConfig),
            segmentation_overrides=_json_object(
                env, "VISITRANK_SEGMENTATION_CONFIG", SegmentationConfig
            ),
        )


@cache
def app_settings() -> Settings:
    """The process-wide settings, read from ``os.environ`` on first use.

    The only place that touches ``os.environ``; tests that change the environment call
    ``app_settings.cache_clear()``.
    """

    return Settings.from_env(os.environ)


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise SettingsError(f"{name}={raw!r} must be at least 1")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive); the first is the default."""
    raw = _text(env, name)
    if raw is None:
        return choices[0]
    if raw.lower() not in choices:
        raise SettingsError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw.lower()


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = _text(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")


def _json_dict(env: Mapping[str, str], name: str, what: str) -> dict[str, Any]:
    """The setting as a JSON object ({} when unset); SettingsError naming it otherwise."""
    raw = _text(env, name)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{name} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a JSON object of {what}, got {raw!r}")
    return value


def _json_object(env: Mapping[str, str], name: str, model: type[BaseModel]) -> dict[str, Any]:
    value = _json_dict(env, name, f"{model.__name__} fields")
    try:
        model.model_validate(value)
    except ValueError as error:
        raise SettingsError(f"{name} is not a valid {model.__name__}: {error}") from None
    return value


def _run_config_values(env: Mapping[str, str], name: str) -> dict[str, Any]:
    value = _json_dict(env, name, "config sections")
    try:
        run_config(value, flat_is_scoring=False)
    except RunConfigError as error:
        raise SettingsError(f"{name} is not a valid run configuration: {error}") from None
    return value


def _from_webjobs_storage(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Reuse the host's storage (AzureWebJobsStorage) for staging when nothing else is set.

    A connection string (``UseDevelopmentStorage=true`` locally) is used as is; with identity
    (``AzureWebJobsStorage__accountName`` / ``__blobServiceUri``) the account URL is derived.
    """
    conn = _text(env, "AzureWebJobsStorage")
    if conn is not None:
        return conn, None
    uri = _text(env, "AzureWebJobsStorage__blobServiceUri")
    if uri is not None:
        return None, uri
    account = _text(env, "AzureWebJobsStorage__accountName")
    if account is not None:
        return None, f"https://{account}.blob.core.windows.net"
    return None, None
