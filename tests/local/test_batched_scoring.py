"""A region scored in batches of SKUs gives the same scores, bit for bit, as scored at once:
the batching bounds a region's memory (scoring/grid.py) and must change nothing else."""

from contextlib import nullcontext
from pathlib import Path

import pytest

from scoring.config import ScoringConfig
from scoring.pipeline import score_region
from visitrank.adapters import local_stage
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import stage_inputs


@pytest.mark.parametrize("batch_rows", [500, 3_000])
def test_batched_scores_equal_the_whole_grid_s(
    demo_dir: Path, run_config: ScoringConfig, tmp_path: Path, batch_rows: int
) -> None:
    staged = stage_inputs(
        FileSource(demo_dir).read_all(), tmp_path / "clean", tmp_path / "q", None, run_config
    )
    steps: list[str] = []

    def timer(name: str) -> nullcontext[None]:
        steps.append(name)
        return nullcontext()

    for area in staged.regions:
        inputs = local_stage.load_region(staged.work_dir, area)
        whole = score_region(inputs, staged.window, run_config, keep_pairs=True, batch_rows=None)
        steps.clear()
        batched = score_region(
            inputs, staged.window, run_config, timer, keep_pairs=True, batch_rows=batch_rows
        )
        assert steps.count("index") > 1  # really in several batches
        assert whole.pairs is not None and batched.pairs is not None
        assert batched.pairs.equals(whole.pairs)
        assert batched.skus.equals(whole.skus)
        assert batched.outlets.equals(whole.outlets)
        assert batched.persistence == whole.persistence
        assert not whole.skus.is_empty()


def test_the_pairs_are_kept_only_when_asked(
    demo_dir: Path, run_config: ScoringConfig, tmp_path: Path
) -> None:
    staged = stage_inputs(
        FileSource(demo_dir).read_all(), tmp_path / "clean", tmp_path / "q", None, run_config
    )
    inputs = local_stage.load_region(staged.work_dir, staged.regions[0])
    assert score_region(inputs, staged.window, run_config).pairs is None
