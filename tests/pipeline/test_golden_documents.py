"""The weekly job's documents, byte for byte, against golden files.

Two data sets: the session demo and a slice of real store sales (The Complete Journey's stores
with planted lost sales, `bench/real_data/stores.py`), each run with the proposed orders and
the behaviour segments on, so the rep documents carry every part (visits, SKUs, proposed
orders, segment evidence, learned steps). A restructuring of the code must not change a byte
of them; a method change that does is re-recorded on purpose:

    VISITRANK_UPDATE_GOLDEN=1 .venv/bin/pytest tests/pipeline/test_golden_documents.py

and the diff of tests/pipeline/golden/ is reviewed in the commit. Only the run id and the
generation time are blanked (they differ on every run by design).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.real_data import completejourney, stores
from scoring.config import ScoringConfig
from scoring.orders import OrderConfig
from scoring.segmentation_config import SegmentationConfig
from visitrank.local.run import run_local

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("VISITRANK_UPDATE_GOLDEN") == "1"
STORE_SPEC = stores.StoreSpec(n_skus=25, seed=3)
VOLATILE = {"runId": "<run id>", "generatedAt": "<generated at>"}


def canonical_lines(path: Path) -> str:
    """The JSON lines of `path` with the run id and generation time blanked, else untouched."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        document: dict[str, Any] = json.loads(line)
        for key, placeholder in VOLATILE.items():
            if key in document:
                document[key] = placeholder
        lines.append(json.dumps(document, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def run_and_compare(source: Path, out_dir: Path, name: str) -> None:
    result = run_local(
        source,
        out_dir,
        ScoringConfig(),
        workers=1,
        order_config=OrderConfig(),
        segment_config=SegmentationConfig(),
    )
    assert result.status == "complete", result.summary
    produced = {
        f"{name}.visit_lists.jsonl": canonical_lines(result.lists_path),
        f"{name}.orders.jsonl": canonical_lines(out_dir / "orders.jsonl"),
    }
    for file_name, text in produced.items():
        golden = GOLDEN_DIR / file_name
        if UPDATE:
            GOLDEN_DIR.mkdir(exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert golden.exists(), f"{golden} is missing: record it with VISITRANK_UPDATE_GOLDEN=1"
        expected = golden.read_text(encoding="utf-8")
        assert text == expected, f"{file_name} differs from its golden file"


def test_demo_documents_equal_the_golden_files(
    demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run_and_compare(demo_dir, tmp_path_factory.mktemp("golden_demo"), "demo")


def test_real_store_documents_equal_the_golden_files(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    source = tmp_path_factory.mktemp("golden_stores_data")
    tables, _ = stores.build(STORE_SPEC, plant=True, lines=completejourney.load_lines())
    for table, frame in tables.items():
        frame.write_parquet(source / f"{table}.parquet")
    run_and_compare(source, tmp_path_factory.mktemp("golden_stores"), "stores")
