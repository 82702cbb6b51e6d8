"""argparse value types shared by the `visitrank` commands."""

from __future__ import annotations

import argparse
from datetime import date


def iso_date(text: str) -> date:
    """argparse type: a YYYY-MM-DD date."""
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from error


def monday(text: str) -> date:
    """argparse type: a YYYY-MM-DD date that is a Monday (the first day of a planned week)."""
    day = iso_date(text)
    if day.weekday() != 0:
        raise argparse.ArgumentTypeError(f"{text} is a {day:%A}, not a Monday")
    return day
