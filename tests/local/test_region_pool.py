"""The local worker pool: its thread setting (cores / workers polars threads, set only for the
spawn) and the routing in chunks of reps."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.weekly_plan import plan_visits
from visitrank.local import region_pool
from visitrank.local.region_pool import POLARS_THREADS, plan_in_pool, worker_pool, worker_threads


def test_workers_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POLARS_THREADS, raising=False)
    monkeypatch.setattr(region_pool, "usable_cores", lambda: 8)
    with worker_threads(3):
        assert os.environ[POLARS_THREADS] == "2"  # 8 // 3
    assert POLARS_THREADS not in os.environ  # the main process's environment is restored
    with worker_threads(16):
        assert os.environ[POLARS_THREADS] == "1"  # never 0
    with pytest.raises(RuntimeError), worker_threads(2):
        raise RuntimeError("a failing fan-out")
    assert POLARS_THREADS not in os.environ  # restored on errors too


def test_a_user_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POLARS_THREADS, "5")
    with worker_threads(2):
        assert os.environ[POLARS_THREADS] == "5"
    assert os.environ[POLARS_THREADS] == "5"


def test_the_pool_workers_run_with_their_share_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POLARS_THREADS, raising=False)
    with worker_pool(1) as pool:
        threads = pool.submit(pl.thread_pool_size).result()
    assert threads == max(1, region_pool.usable_cores())
    assert POLARS_THREADS not in os.environ


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


def test_a_broken_pool_still_routes_in_the_main_process() -> None:
    """A region worker that dies (killed for memory, say) breaks the pool: the regions that
    succeeded are still routed, in the main process, to the same plans."""
    outlets = pl.DataFrame(
        {
            "CustomerId": np.arange(80, dtype=np.int64),
            "RepId": np.arange(80, dtype=np.int64) % 8,
            "Latitude": np.linspace(48.8, 48.9, 80),
            "Longitude": np.linspace(2.2, 2.4, 80),
            "Priority": np.linspace(1.0, 80.0, 80),
            "Routable": np.ones(80, dtype=bool),
        }
    )
    config = ScoringConfig()
    with worker_pool(2) as pool:
        with pytest.raises(BrokenProcessPool):
            pool.submit(os._exit, 1).result()
        visits, days = plan_in_pool(pool, outlets, config, chunks=2)
    expected = plan_visits(outlets, config)
    assert visits.equals(expected[0])
    assert days.equals(expected[1])
