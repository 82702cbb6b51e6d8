from pathlib import Path

import pytest

from scoring.config import ScoringConfig
from visitrank.local.config_file import ConfigFileError, load_config, parse_override


def test_defaults_are_the_documented_week() -> None:
    config = ScoringConfig()
    assert (config.visits_per_week, config.days_per_week, config.lookback_weeks) == (30, 5, 26)


def test_config_is_frozen() -> None:
    config = ScoringConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.visits_per_week = 10  # type: ignore[misc]


def test_week_must_fit_in_days() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        ScoringConfig(visits_per_week=30, days_per_week=3, max_visits_per_day=8)


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("visits_per_weak = 20\n")
    with pytest.raises(ConfigFileError, match="visits_per_weak"):
        load_config(path)


def test_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[scoring]\nvisits_per_week = 20\nnoise_z = 2.0\n")
    config = load_config(path, ["noise_z=1.5", "value_per_km=null"])
    assert config.visits_per_week == 20
    assert config.noise_z == 1.5
    assert config.value_per_km is None


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"skus_per_visit": 3}')
    assert load_config(path).skus_per_visit == 3


def test_bad_override() -> None:
    with pytest.raises(ConfigFileError, match="name=value"):
        parse_override("novalue")
    with pytest.raises(ConfigFileError, match="visits_per_week"):
        load_config(None, ["visits_per_week=-3"])
