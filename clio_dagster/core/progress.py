"""Progress of long work: one reporter, `Progress`, for every stage that loops over items.

It reports items done out of the total, the rate and the ETA, plus a stage's own counters: LLM calls, tokens,
dollars against the budget, retries and failures; Message Batch status counts at each poll; embedding cache hits
against texts encoded. It writes
- to a log (Dagster's step log, `context.log.info`, wired by the `progress` resource): a plain line every
  `every_seconds` (CLIO_PROGRESS_EVERY), and the final counts of a stage that counted anything;
- to the `clio` command's stream when it is not a terminal (CI, cron, a pipe): the same periodic lines, and the
  final line only for a stage that ran long enough to report (a short stage adds nothing to the output);
- a live bar per stage (rich) when the `clio` command's stream is a terminal (`terminal()`).

Privacy: a line is built from numbers and from ids of our own making only (stage, partition, batch id), never
from data: no text, no conversation or user id, no cluster name. No Dagster import here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Protocol

DEFAULT_EVERY_SECONDS = 30.0
# A live bar is redrawn at most this often: stages advance thousands of times a second.
BAR_REFRESH_SECONDS = 0.1
BATCH_STATUSES = ("processing", "succeeded", "errored", "canceled", "expired")

LineSink = Callable[[str], None]


def duration(seconds: float) -> str:
    """`45s`, `12m05s`, `3h07m`."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def money(usd: float) -> str:
    return f"${usd:.4f}" if usd < 100 else f"${usd:,.2f}"


def _rate(per_second: float) -> str:
    return f"{per_second:,.1f}/s" if per_second >= 1 else f"{per_second * 60:,.1f}/min"


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def counter_text(counters: Mapping[str, Any]) -> str:
    """A stage's own counters, in a fixed order; keys no stage sets are ignored."""
    c = counters
    parts = []
    if "calls" in c:
        parts.append(_count(c["calls"], "call"))
    tokens = [f"{c[key]:,} {label}" for key, label in (("input_tokens", "in"), ("output_tokens", "out"),
                                                        ("cache_read_tokens", "cache read"),
                                                        ("cache_write_tokens", "cache write"))
              if key in c and (c[key] or key in ("input_tokens", "output_tokens"))]
    if tokens:
        parts.append("tokens " + " / ".join(tokens))
    if "cost_usd" in c:
        budget = c.get("budget_usd")
        parts.append(money(c["cost_usd"]) + (f" of ${budget:,.2f} budget" if budget else ""))
    for key, noun, plural in (("retries", "retry", "retries"), ("failed", "failed", "failed"),
                              ("cache_hits", "cache hit", None), ("encoded", "encoded", "encoded")):
        if key in c:
            parts.append(_count(c[key], noun, plural))
    if c.get("batch"):
        counts = c.get("batch_counts") or {}
        shown = [f"{counts[s]:,} {s}" for s in BATCH_STATUSES
                 if s in counts and (counts[s] or s in ("processing", "succeeded", "errored"))]
        parts.append(f"batch {c['batch']}" + (": " + ", ".join(shown) if shown else ""))
    return ", ".join(parts)


@dataclass(frozen=True)
class Snapshot:
    """A stage's progress at one moment; `line()` is what every sink shows."""

    stage: str
    partition: str | None
    done: int
    total: int | None
    open_total: bool  # the total grows as work is found (no ETA then)
    unit: str
    elapsed: float
    # Items per second that took work (not cache hits): while running, since the first of them was done (setup
    # such as loading a model would skew the ETA); at the end, over the whole stage.
    rate: float | None
    counters: Mapping[str, Any]
    state: str = "running"  # running, done or stopped (the stage raised)

    @property
    def eta(self) -> float | None:
        if self.total is None or self.open_total or not self.rate:
            return None
        return max(self.total - self.done, 0) / self.rate

    @property
    def label(self) -> str:
        return f"{self.stage} {self.partition}" if self.partition else self.stage

    def status(self) -> str:
        """Everything after the label (what a live bar shows beside it)."""
        if self.total is None:
            count = f"{self.done:,} {self.unit}"
        else:
            count = f"{self.done:,}/{self.total:,} {self.unit}"
            if self.total and not self.open_total:
                count += f" ({min(100, int(100 * self.done / self.total))}%)"
        parts = [count]
        if self.state != "running":
            parts.append(f"in {duration(self.elapsed)}")
        if self.rate:
            parts.append(_rate(self.rate))
        if self.state == "running" and self.eta is not None:
            parts.append(f"ETA {duration(self.eta)}")
        extra = counter_text(self.counters)
        return ", ".join(parts) + (f" | {extra}" if extra else "")

    def line(self) -> str:
        head = {"running": "", "done": "done, ", "stopped": "stopped at "}[self.state]
        return f"{self.label}: {head}{self.status()}"


class Bar(Protocol):
    """A live view of one stage (a terminal bar)."""

    def update(self, snapshot: Snapshot) -> None: ...

    def finish(self, snapshot: Snapshot, reported: bool) -> None: ...


class Progress:
    """Progress of one stage over items. `advance` counts items done (and adds to counters), `note` sets
    absolute values (a batch's status counts), `expect` announces work found as the stage goes (it grows the
    total only where the stage did not fix one), `set_total` fixes it. Use as a context manager: leaving it
    reports the end (as "stopped" when the stage raised). `lines` get a line every `every_seconds` and the end of
    a stage that reported; `log` also gets the end of any stage that counted something. `live` returns counters
    read at each report (an LLM backend's running spend), `clock` is injectable for tests."""

    def __init__(self, stage: str, *, partition: str | None = None, total: int | None = None, unit: str = "items",
                 every_seconds: float = DEFAULT_EVERY_SECONDS, lines: list[LineSink] | tuple = (),
                 log: LineSink | None = None, bars: list[Bar] | tuple = (),
                 live: Callable[[], Mapping[str, Any]] | None = None, clock: Callable[[], float] = time.monotonic):
        self.stage, self.partition, self.unit = stage, partition, unit
        self.total = total
        self._fixed_total = total is not None
        self.done = 0
        self._timed = 0
        self._first_timed: tuple[float, int] | None = None  # when the first worked items were done, how many
        self.counters: dict[str, Any] = {}
        self.every_seconds = every_seconds
        self._lines = list(lines) + ([log] if log else [])
        self._log = log
        self._bars = list(bars)
        self._live = live
        self._clock = clock
        self.started = clock()
        self._last_line = self.started
        self._last_bar: float | None = None
        # True once a periodic report fell due: such a stage also reports its end; a shorter one stays silent.
        self.reported = False
        self.counted = False  # anything counted or announced: the log gets the stage's end
        self.closed = False

    # ---- what stages call ------------------------------------------------------------------------
    def advance(self, n: int = 1, *, timed: bool = True, **counters: int | float) -> None:
        """`n` more items done; `timed` False for items that took no work (cache hits), so that the rate and
        the ETA follow the work. `counters` are added to the stage's counters."""
        if not n and not counters:
            return
        self.done += n
        if timed:
            self._count_timed(n)
        for key, value in counters.items():
            self.counters[key] = self.counters.get(key, 0) + value
        self._tick()

    def note(self, *, done: int | None = None, **values: Any) -> None:
        """Set counters to these values (and the items done to `done`, e.g. from a batch's status counts)."""
        if done is not None:
            self._count_timed(done - self.done)
            self.done = done
        self.counters.update(values)
        self._tick()

    def expect(self, n: int) -> None:
        if not self._fixed_total:
            self.total = (self.total or 0) + n
            self._tick()

    def set_total(self, total: int) -> None:
        self.total, self._fixed_total = total, True
        self._tick()

    def _count_timed(self, n: int) -> None:
        self._timed += n
        if self._first_timed is None and self._timed > 0:
            self._first_timed = (self._clock(), self._timed)

    # ---- reporting -------------------------------------------------------------------------------
    def _rate(self, now: float, state: str) -> float | None:
        if state != "running":
            elapsed = now - self.started
            return self._timed / elapsed if elapsed > 0 and self._timed > 0 else None
        if self._first_timed is None:
            return None
        since, first = self._first_timed
        return (self._timed - first) / (now - since) if now > since and self._timed > first else None

    def snapshot(self, state: str = "running") -> Snapshot:
        now = self._clock()
        counters = {**self.counters, **(self._live() if self._live else {})}
        return Snapshot(self.stage, self.partition, self.done, self.total, not self._fixed_total, self.unit,
                        now - self.started, self._rate(now, state), counters, state)

    def _tick(self) -> None:
        self.counted = True
        now = self._clock()
        line_due = now - self._last_line >= self.every_seconds
        bar_due = bool(self._bars) and (self._last_bar is None or now - self._last_bar >= BAR_REFRESH_SECONDS)
        if not (line_due or bar_due):
            return
        snapshot = self.snapshot()
        if bar_due:
            self._last_bar = now
            for bar in self._bars:
                bar.update(snapshot)
        if line_due:
            self._last_line = now
            self.reported = True
            line = snapshot.line()
            for emit in self._lines:
                emit(line)

    def close(self, stopped: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        snapshot = self.snapshot("stopped" if stopped else "done")
        for bar in self._bars:
            bar.finish(snapshot, self.reported)
        if self.reported:
            sinks = self._lines
        else:  # a short stage: its end goes to the log only (the step's record), if it counted anything
            sinks = [self._log] if self._log is not None and self.counted else []
        line = snapshot.line()
        for emit in sinks:
            emit(line)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(stopped=exc_type is not None)


# ---- the `clio` command's terminal ---------------------------------------------------------------


class Terminal:
    """Where the stages of an in-process `clio` run also report: a live rich bar per stage when `stream` is a
    terminal, else plain lines (at each stage's cadence)."""

    def __init__(self, stream: IO[str], tty: bool | None = None):
        self.stream = stream
        if tty is None:
            from rich.console import Console

            console = Console(file=stream)
            tty = console.is_terminal and not console.is_dumb_terminal
        self.tty = tty
        self._rich = None  # rich.progress.Progress while a bar is shown

    def sinks(self) -> tuple[list[LineSink], list[Bar]]:
        return ([], [_RichBar(self)]) if self.tty else ([self.write], [])

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def _bars(self):
        if self._rich is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress as RichProgress, TextColumn

            self._rich = RichProgress(TextColumn("{task.description}", markup=False), BarColumn(),
                                      TextColumn("{task.fields[status]}", markup=False),
                                      console=Console(file=self.stream, force_terminal=True), transient=True)
            self._rich.start()
        return self._rich

    def _remove(self, task, final_line: str | None) -> None:
        bars = self._rich
        if bars is None:  # the terminal was closed under a running stage
            if final_line is not None:
                self.write(final_line)
            return
        if final_line is not None:
            bars.console.print(final_line, markup=False, highlight=False, soft_wrap=True)
        bars.remove_task(task)
        if not bars.tasks:  # between stages the terminal is plain again (a day's line prints normally)
            self.close()

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None


class _RichBar:
    def __init__(self, terminal: Terminal):
        self.terminal = terminal
        self.task = None

    def update(self, snapshot: Snapshot) -> None:
        bars = self.terminal._bars()
        total = None if snapshot.open_total and not snapshot.total else snapshot.total
        if self.task is None:
            self.task = bars.add_task(snapshot.label, total=total, status=snapshot.status())
        bars.update(self.task, completed=snapshot.done, total=total, status=snapshot.status())

    def finish(self, snapshot: Snapshot, reported: bool) -> None:
        if self.task is None:
            if reported:
                self.terminal.write(snapshot.line())
            return
        self.terminal._remove(self.task, snapshot.line() if reported else None)
        self.task = None


_terminal: Terminal | None = None


@contextmanager
def terminal(stream: IO[str] | None = None, quiet: bool = False, tty: bool | None = None) -> Iterator[Terminal | None]:
    """Stages run in this process inside the block also report to `stream` (default stderr, so stdout keeps
    only results); `quiet`: nowhere but Dagster's log."""
    global _terminal
    previous = _terminal
    _terminal = None if quiet else Terminal(stream or sys.stderr, tty)
    try:
        yield _terminal
    finally:
        if _terminal is not None:
            _terminal.close()
        _terminal = previous


def stage_progress(stage: str, *, partition: str | None = None, total: int | None = None, unit: str = "items",
                   every_seconds: float = DEFAULT_EVERY_SECONDS, log: LineSink | None = None,
                   live: Callable[[], Mapping[str, Any]] | None = None) -> Progress:
    """A stage's reporter: to `log` (Dagster's step log), and to the `clio` command's terminal when there is one."""
    lines, bars = _terminal.sinks() if _terminal is not None else ([], [])
    return Progress(stage, partition=partition, total=total, unit=unit, every_seconds=every_seconds, lines=lines,
                    log=log, bars=bars, live=live)
