"""Fixtures of the Azure test suite: real emulators, a real ODBC database, real settings.

Session-scoped: Azurite (Blob) and the Cosmos server are started once on free 127.0.0.1 ports
(``scripts/emulators.py``) and stopped at the end; their logs are shown if they fail to start.
The ERP database is a SQLite file read through the SQLite ODBC driver, loaded with small demo
MV_ tables from ``visitrank.lab.demo_data``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from tests.sqlite_erp import write_sqlite
from visitrank.adapters.app_settings import Settings, app_settings
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.adapters.order_store import OrderStore
from visitrank.adapters.segment_store import CosmosSegmentSink
from visitrank.lab.demo_data import DemoSpec, generate_tables

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from emulators import EmulatorError, Emulators, running_emulators  # noqa: E402

DEMO = DemoSpec(outlets=200, reps=6, skus=30, weeks=30, areas=2)


def pytest_configure(config: pytest.Config) -> None:
    # The Cosmos emulator's certificate is self-signed (connection_verify=False, tests only).
    config.addinivalue_line("filterwarnings", "ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    log_dir = tmp_path_factory.mktemp("emulators")
    try:
        with running_emulators(log_dir) as running:
            yield running
    except EmulatorError as error:
        pytest.fail(f"emulators did not start: {error}", pytrace=False)


@pytest.fixture(scope="session")
def demo_tables() -> dict[str, pl.DataFrame]:
    tables, *_ = generate_tables(DEMO)
    return tables


@pytest.fixture(scope="session")
def sql_connection_string(
    tmp_path_factory: pytest.TempPathFactory, demo_tables: dict[str, pl.DataFrame]
) -> str:
    return write_sqlite(tmp_path_factory.mktemp("erp") / "erp.db", demo_tables)


@pytest.fixture(scope="session")
def settings(emulators: Emulators, sql_connection_string: str) -> Iterator[Settings]:
    """Settings pointing at the emulators, also exported to the environment so that the
    functions read them exactly as in Azure (``app_settings()``)."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        **emulators.env(),
        "VISITRANK_SQL_CONNECTION_STRING": sql_connection_string,
        "VISITRANK_SQL_BATCH_SIZE": "5000",
        "VISITRANK_STAGING_CONTAINER": f"staging-{suffix}",
        "VISITRANK_COSMOS_DATABASE": f"visitrank-{suffix}",
        "VISITRANK_COSMOS_CONTAINER": "visit-lists",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    app_settings.cache_clear()
    loaded = Settings.from_env(os.environ)
    BlobStaging.from_settings(loaded).ensure_container()
    CosmosSink.from_settings(loaded, create=True)
    OrderStore.from_settings(loaded, create=True)
    CosmosSegmentSink.from_settings(loaded, create=True)
    yield loaded
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    app_settings.cache_clear()


@pytest.fixture
def fresh_database(settings: Settings) -> Iterator[Settings]:
    """The session's settings with a Cosmos database of the test's own (its containers
    created, the functions' cached clients dropped): for a test that needs no publication
    record and no documents of other tests' weeks."""
    from api import orders as order_api
    from api import runs as starters

    saved = os.environ["VISITRANK_COSMOS_DATABASE"]
    os.environ["VISITRANK_COSMOS_DATABASE"] = f"visitrank-{uuid.uuid4().hex[:8]}"
    caches = (
        app_settings,
        starters.document_reader,
        order_api.order_reader,
        order_api.list_reader,
    )
    for cache in caches:
        cache.cache_clear()
    loaded = Settings.from_env(os.environ)
    CosmosSink.from_settings(loaded, create=True)
    OrderStore.from_settings(loaded, create=True)
    CosmosSegmentSink.from_settings(loaded, create=True)
    try:
        yield loaded
    finally:
        os.environ["VISITRANK_COSMOS_DATABASE"] = saved
        for cache in caches:
            cache.cache_clear()


@pytest.fixture(scope="session")
def sink(settings: Settings) -> CosmosSink:
    return CosmosSink.from_settings(settings)


@pytest.fixture(scope="session")
def staging(settings: Settings) -> BlobStaging:
    return BlobStaging.from_settings(settings)
