"""The region workers' thread setting: cores / workers polars threads, set only for the spawn."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from visitrank.region_pool import POLARS_THREADS, worker_threads


def test_workers_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POLARS_THREADS, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    with worker_threads(3):
        assert os.environ[POLARS_THREADS] == "2"  # 8 // 3
    assert POLARS_THREADS not in os.environ  # the main process's environment is restored
    with worker_threads(16):
        assert os.environ[POLARS_THREADS] == "1"  # never 0


def test_a_user_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POLARS_THREADS, "5")
    with worker_threads(2):
        assert os.environ[POLARS_THREADS] == "5"
    assert os.environ[POLARS_THREADS] == "5"


def test_spawned_workers_inherit_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POLARS_THREADS, raising=False)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool, worker_threads(1):
        seen = pool.submit(os.getenv, POLARS_THREADS).result()
    assert seen == str(os.cpu_count() or 1)
