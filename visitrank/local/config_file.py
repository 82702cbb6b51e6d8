"""Loading a ScoringConfig from a TOML/JSON file and `name=value` overrides from the CLI."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from scoring.config import ScoringConfig


class ConfigFileError(ValueError):
    """A config file or override that cannot be used; the message names the file or value."""


def parse_override(text: str) -> tuple[str, Any]:
    """`name=value` with value read as JSON when it parses (numbers, null, true), else text."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise ConfigFileError(f"override {text!r} is not name=value")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> ScoringConfig:
    """The default config, updated by the file (TOML or JSON, a flat table of field names; a
    `[scoring]` table is also accepted) and then by the overrides, validated."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigFileError(f"cannot read config file {path}: {error}") from error
        try:
            loaded = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigFileError(f"config file {path} does not parse: {error}") from error
        values.update(loaded.get("scoring", loaded))
    values.update(dict(parse_override(item) for item in overrides or []))
    try:
        return ScoringConfig.model_validate(values)
    except ValueError as error:
        raise ConfigFileError(f"invalid config: {error}") from error
