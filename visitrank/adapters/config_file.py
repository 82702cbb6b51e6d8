"""The run configuration from a TOML or JSON file plus overrides (`section.field=value`).

The file holds one table per section (`[scoring]`, `[orders]`, `[segmentation]`); a flat
table of scoring fields (the format before sections) is still read as the scoring section.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from visitrank.pipeline.run_config import RunConfig, RunConfigError, run_config


class ConfigFileError(RunConfigError):
    """A config file that cannot be read or parsed; the message names the file."""


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's values (TOML, or JSON for a `.json` file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigFileError(f"cannot read config file {path}: {error}") from error
    try:
        loaded = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigFileError(f"config file {path} does not parse: {error}") from error
    if not isinstance(loaded, dict):
        raise ConfigFileError(f"config file {path} is not a table of settings: {loaded!r}")
    return loaded


def load_run_config(path: Path | None = None, overrides: Iterable[str] = ()) -> RunConfig:
    """The defaults, updated by the file (if any), then by the overrides."""
    values = read_config_file(path) if path is not None else {}
    try:
        return run_config(values, overrides)
    except ConfigFileError:
        raise
    except RunConfigError as error:
        raise RunConfigError(f"{path}: {error}" if path is not None else str(error)) from error
