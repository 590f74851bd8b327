"""Progress bars for long work, on stderr, for a person watching a terminal.

Shown only when stderr is a terminal (``TERM`` not ``dumb``), and never with ``--json`` or
``--quiet``: a script, a pipe or a log file gets the same output as before, byte for byte.
Rich is imported only when a bar is drawn. The bar is transient: it is gone once the work is
done, and the command's own lines follow as usual.

The wrappers count what passes through an iterator the command already has (the lines of
an import, the rows of an export), so the work itself is not changed and, without a
terminal, nothing is wrapped at all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

#: how many items pass between two updates of the bar (an update costs a lock and a time read)
STEP = 4096
_quiet = False


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress bars for this run."""
    global _quiet
    _quiet = quiet


def enabled(*, json: bool = False) -> bool:
    if json or _quiet or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stderr
        return False


@contextmanager
def bar(description: str, *, total: float | None = None, json: bool = False, unit: str = "") -> Iterator[Any]:
    """A progress bar; yields a task to ``advance`` or None when no bar is shown (the caller then
    does nothing). ``unit``: ``bytes`` (a size), ``steps`` (done/total once the total is known),
    ``spinner`` (no count at all), or a word for a plain count (``routes``)."""
    if not enabled(json=json):
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if unit == "bytes":
        columns += [BarColumn(), DownloadColumn(), TimeRemainingColumn()]
    elif unit == "steps":
        columns += [BarColumn(), MofNCompleteColumn()]
    elif unit != "spinner":
        columns += [BarColumn(), TextColumn("{task.completed:,.0f}" + (f" {unit}" if unit else ""))]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True, refresh_per_second=8,
                  redirect_stdout=False, redirect_stderr=False) as progress:
        task = progress.add_task(description, total=total)
        yield _Task(progress, task)


class _Task:
    def __init__(self, progress: Any, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: float) -> None:
        self._progress.advance(self._task, n)

    def describe(self, description: str, *, total: float | None = None, completed: float | None = None) -> None:
        self._progress.update(self._task, description=description, total=total, completed=completed)


def counted(items: Iterable[T], task: _Task | None, *, size=None, then: str | None = None) -> Iterable[T]:
    """``items`` unchanged, advancing ``task`` every :data:`STEP` items (by ``size(item)`` each
    when given, e.g. a line's length for a bar in bytes); at their end the bar says ``then``.
    Without a bar, ``items`` themselves: not even a generator in between."""
    if task is None:
        return items
    return _counting(items, task, size, then)


def _counting(items: Iterable[T], task: _Task, size, then: str | None) -> Iterator[T]:
    done = n = 0
    for item in items:
        yield item
        n += 1
        if size is not None:
            done += size(item)
        if n % STEP == 0:
            task.advance(done if size is not None else STEP)
            done = 0
    task.advance(done if size is not None else n % STEP)
    if then is not None:
        task.describe(then)


@contextmanager
def working(description: str, *, json: bool = False) -> Iterator[None]:
    """A spinner with the elapsed time, for work that cannot count its steps."""
    with bar(description, json=json, unit="spinner"):
        yield


@contextmanager
def stepped(description: str, then: str, *, json: bool = False) -> Iterator[Any]:
    """A spinner until the work can count (``report(done, total)``), then a bar saying ``then``;
    yields ``report``, or None when no bar is shown."""
    with bar(description, json=json, unit="steps") as task:
        if task is None:
            yield None
            return

        def report(done: int, total: int) -> None:
            task.describe(then, total=total, completed=done)

        yield report
