"""Progress display: a live bar on a terminal, plain log lines otherwise (CI, pipes, cron)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import Progress

log = logging.getLogger("visitrank")


@contextmanager
def progress_reporter() -> Iterator[Callable[[str, int, int], None]]:
    """Yields `report(stage, done, total)`."""
    if not sys.stderr.isatty():

        def report_plain(stage: str, done: int, total: int) -> None:
            log.info("%s: %d/%d", stage, done, total)

        yield report_plain
        return

    with Progress(transient=True) as bar:
        tasks: dict[str, int] = {}

        def report_bar(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = int(bar.add_task(stage, total=total))
            bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        yield report_bar
