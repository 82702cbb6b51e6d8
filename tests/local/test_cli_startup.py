"""The command line loads each command's engine only when that command runs: `visitrank
--help`, `check` or `evaluate` took ~3 s of scikit-learn, scipy and matplotlib imports."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "scipy", "matplotlib", "pyvrp")


def test_building_the_command_line_loads_no_engine() -> None:
    probe = (
        "import sys; from visitrank.local.cli import build_parser; build_parser(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert loaded == ""


def test_the_order_names_still_load_on_first_use() -> None:
    probe = (
        "import sys, scoring.orders as o; before = 'sklearn' in sys.modules; "
        "f = o.propose_orders; print(before, 'sklearn' in sys.modules, f.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.split()
    assert out == ["False", "True", "scoring.orders.proposal"]
