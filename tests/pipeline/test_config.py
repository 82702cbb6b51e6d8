from pathlib import Path

import pytest

from scoring.config import ScoringConfig
from visitrank.adapters.config_file import ConfigFileError, load_run_config
from visitrank.pipeline.run_config import RunConfigError, parse_override, run_config


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
    with pytest.raises(RunConfigError, match="visits_per_weak"):
        load_run_config(path)


def test_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[scoring]\nvisits_per_week = 20\nnoise_z = 2.0\n[orders]\nmax_lines = 9\n")
    config = load_run_config(path, ["noise_z=1.5", "scoring.value_per_km=null"])
    assert config.scoring.visits_per_week == 20
    assert config.scoring.noise_z == 1.5
    assert config.scoring.value_per_km is None
    assert config.orders.max_lines == 9


def test_flat_json_file_is_the_scoring_section(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"skus_per_visit": 3}')
    assert load_run_config(path).scoring.skus_per_visit == 3


def test_bad_override() -> None:
    with pytest.raises(RunConfigError, match="name=value"):
        parse_override("novalue")
    with pytest.raises(RunConfigError, match="visits_per_week"):
        load_run_config(None, ["visits_per_week=-3"])


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[scoring\n")
    with pytest.raises(ConfigFileError, match=str(path)):
        load_run_config(path)


def test_override_routes_a_bare_field_to_its_only_section() -> None:
    assert parse_override("max_new_items=1") == ("orders", "max_new_items", 1)
    assert parse_override("k_max=5") == ("segmentation", "k_max", 5)
    assert parse_override("scoring.noise_z=2") == ("scoring", "noise_z", 2)
    assert parse_override("orders.must_sell={}") == ("orders", "must_sell", {})


def test_ambiguous_or_unknown_names_are_refused_with_the_choices() -> None:
    # lookback_weeks is a field of all three sections
    with pytest.raises(RunConfigError, match=r"scoring\.lookback_weeks or orders\.lookback_weeks"):
        parse_override("lookback_weeks=16")
    with pytest.raises(RunConfigError, match="unknown section 'routing'"):
        parse_override("routing.vehicles=2")
    with pytest.raises(RunConfigError, match="unknown config field 'no_such_knob'"):
        parse_override("no_such_knob=3")


def test_each_section_is_validated_by_its_model() -> None:
    config = run_config({"segmentation": {"k_max": 5}}, ["orders.lookback_weeks=16"])
    assert config.segmentation.k_max == 5
    assert config.orders.lookback_weeks == 16
    assert config.scoring.lookback_weeks == 26  # untouched: the override named its section
    with pytest.raises(RunConfigError, match="invalid orders config"):
        run_config({"orders": {"max_lines": 0}})
