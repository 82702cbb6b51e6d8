"""The local worker pool: its thread setting (cores / workers polars threads, set only for the
spawn) and the routing in chunks of reps."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.weekly_plan import plan_visits
from visitrank.region_pool import POLARS_THREADS, plan_in_pool, worker_pool, worker_threads


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


def test_routing_in_chunks_of_reps_plans_the_same_weeks() -> None:
    """Every rep's plan is independent: the pool's chunks give the same visits and days, in
    the same order, as one `plan_visits` over all outlets (with a rep-less outlet among them)."""
    rng = np.random.default_rng(3)
    n = 700
    outlets = pl.DataFrame(
        {
            "CustomerId": np.arange(n, dtype=np.int64),
            "RepId": pl.Series(rng.integers(1, 12, n)).scatter([5], [None]),
            "Latitude": 48.8 + rng.random(n) * 0.3,
            "Longitude": 2.2 + rng.random(n) * 0.3,
            "Priority": rng.random(n) * 100,
            "Routable": rng.random(n) > 0.05,
        }
    )
    config = ScoringConfig()
    expected = plan_visits(outlets, config)
    with worker_pool(2) as pool:
        chunked = plan_in_pool(pool, outlets, config, chunks=3)
    assert chunked[0].equals(expected[0])
    assert chunked[1].equals(expected[1])
    assert expected[0]["RepId"].n_unique() == 11
