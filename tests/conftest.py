"""Session fixtures of the engine tests: one small seeded demo dataset and one local run on it.

Generating the demo data and running the weekly job are the slow parts of the suite (the run
spawns a worker process), so each happens once per session and the tests only read the results.
No emulator is started here; the Azure suite (tests/azure) has its own conftest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scoring.config import ScoringConfig
from visitrank.lab.demo_data import DemoSpec, DemoSummary, write_demo
from visitrank.local.cli import main
from visitrank.local.run import RunResult, run_local

DEMO_SPEC = DemoSpec(outlets=400, reps=8, skus=40, weeks=60, areas=2, seed=3)
RUN_WORKERS = 1


def read_documents(path: Path) -> list[dict[str, Any]]:
    """The rep documents of a visit_lists.jsonl file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_cli(argv: Sequence[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one `visitrank` command run in this process; argparse
    errors exit via SystemExit and give its code."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def comparable(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents without the fields that legitimately differ between two runs."""
    return [
        {k: v for k, v in document.items() if k not in ("runId", "generatedAt")}
        for document in documents
    ]


@dataclass(frozen=True)
class LocalRun:
    """One `run_local` on the session demo data: its result, out folder and documents."""

    result: RunResult = field(repr=False)
    out_dir: Path
    config: ScoringConfig = field(repr=False)
    documents: list[dict[str, Any]] = field(repr=False)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """The session demo data (parquet tables + truth/) in a temporary folder."""
    return write_demo(DEMO_SPEC, tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def demo_dir(demo: DemoSummary) -> Path:
    return demo.out_dir


@pytest.fixture(scope="session")
def run_config() -> ScoringConfig:
    """The config of the session run: the engine defaults."""
    return ScoringConfig()


@pytest.fixture(scope="session")
def local_run(
    demo_dir: Path, run_config: ScoringConfig, tmp_path_factory: pytest.TempPathFactory
) -> LocalRun:
    """The weekly job run once on the session demo data."""
    out_dir = tmp_path_factory.mktemp("run")
    result = run_local(demo_dir, out_dir, run_config, workers=RUN_WORKERS)
    return LocalRun(
        result=result,
        out_dir=out_dir,
        config=run_config,
        documents=read_documents(result.lists_path),
    )
