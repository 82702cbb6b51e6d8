"""One run configuration: the scoring, the proposed orders and the behaviour segmentation, each a
section, with one way to override a field whichever the entry (a config file, the command
line's `--set`, the Function app's settings).

An override is `section.field=value` (`scoring.visits_per_week=25`); a bare `field=value` is
accepted when exactly one section has that field, so `--set visits_per_week=25` keeps working
and an ambiguous name is refused with the sections that have it. Values are read as JSON when
they parse (numbers, booleans, null, lists, objects), else as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig
from scoring.segmentation_config import SegmentationConfig

SECTIONS: Final[dict[str, type[BaseModel]]] = {
    "scoring": ScoringConfig,
    "orders": OrderConfig,
    "segmentation": SegmentationConfig,
}


class RunConfigError(ValueError):
    """A configuration value that cannot be used; the message names the section, field and
    value."""


class RunConfig(BaseModel):
    """Every setting of a weekly run, by section (each section validated by its own model)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scoring: ScoringConfig = ScoringConfig()
    orders: OrderConfig = OrderConfig()
    segmentation: SegmentationConfig = SegmentationConfig()


def section_of(name: str) -> str:
    """The section of a bare field name: the only section that has it."""
    owners = [section for section, model in SECTIONS.items() if name in model.model_fields]
    if len(owners) == 1:
        return owners[0]
    if not owners:
        raise RunConfigError(f"unknown config field {name!r} (sections: {', '.join(SECTIONS)})")
    choices = " or ".join(f"{section}.{name}" for section in owners)
    raise RunConfigError(f"config field {name!r} is in several sections: write {choices}")


def parse_override(text: str) -> tuple[str, str, Any]:
    """`section.field=value` or `field=value` as (section, field, value)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise RunConfigError(f"override {text!r} is not name=value")
    section, dot, name = key.partition(".")
    if not dot:
        section, name = section_of(key), key
    elif section not in SECTIONS:
        raise RunConfigError(
            f"override {text!r}: unknown section {section!r} (sections: {', '.join(SECTIONS)})"
        )
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return section, name, value


def sections_of(
    values: Mapping[str, Any], *, flat_is_scoring: bool = True
) -> dict[str, dict[str, Any]]:
    """A mapping of sections (`{"scoring": {...}, "orders": {...}}`), or, with
    `flat_is_scoring`, a flat mapping of scoring fields (the config files written before
    sections existed), as section values."""
    if not values or not flat_is_scoring or any(key in SECTIONS for key in values):
        unknown = sorted(set(values) - set(SECTIONS))
        if unknown:
            raise RunConfigError(f"unknown config sections {unknown} (sections: {list(SECTIONS)})")
        out: dict[str, dict[str, Any]] = {}
        for section, fields in values.items():
            if not isinstance(fields, Mapping):
                raise RunConfigError(f"config section {section!r} is not a table: {fields!r}")
            out[section] = dict(fields)
        return out
    return {"scoring": dict(values)}


def run_config(
    values: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    *,
    flat_is_scoring: bool = True,
) -> RunConfig:
    """The defaults, updated by `values` (see `sections_of`) and then by the overrides, each
    section validated by its model."""
    merged = sections_of(values or {}, flat_is_scoring=flat_is_scoring)
    for text in overrides:
        section, name, value = parse_override(text)
        merged.setdefault(section, {})[name] = value
    built: dict[str, BaseModel] = {}
    for section, model in SECTIONS.items():
        try:
            built[section] = model.model_validate(merged.get(section, {}))
        except ValidationError as error:
            raise RunConfigError(f"invalid {section} config: {error}") from error
    return RunConfig.model_validate(built)
