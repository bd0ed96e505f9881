"""Conversation files split by day and staged into a landing folder, for evaluations that run the pipeline.

A record goes to the UTC day of its own timestamp (parsed by the ingest's own rules), or to `undated_day`
when it has none; records the ingest would reject are left out and counted, so every staged line is one
the pipeline accepts.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from clio_dagster.settings import SettingsError


@dataclass(frozen=True)
class DayLines:
    """JSONL lines (each ending in a newline) by ISO day, in file order, and how many lines were dropped."""

    by_day: dict[str, list[bytes]]
    rejected: int = 0

    @property
    def days(self) -> list[str]:
        return sorted(self.by_day)

    @property
    def total(self) -> int:
        return sum(len(lines) for lines in self.by_day.values())


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def conversation_lines_by_day(path: Path, n_per_day: int | None = None, undated_day: date = date(2023, 1, 1)) -> DayLines:
    """The accepted records of a `.jsonl` (or `.jsonl.gz`) conversation file by UTC day, at most
    `n_per_day` per day (the first ones in file order)."""
    from clio_dagster.core.ingest import Accepted, IngestLimits, SourceLocation, parse_record

    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"{path} is not a file: pass a .jsonl or .jsonl.gz file of conversations.")
    by_day: dict[str, list[bytes]] = defaultdict(list)
    rejected = 0
    limits = IngestLimits()
    with _open(path) as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                parsed = parse_record(json.loads(line), SourceLocation(path.name, number), limits)
            except ValueError:  # malformed JSON
                rejected += 1
                continue
            if not isinstance(parsed, Accepted):
                rejected += 1
                continue
            stamp = parsed.conversation.timestamp
            day = (stamp.date() if stamp is not None else undated_day).isoformat()
            if n_per_day is None or len(by_day[day]) < n_per_day:
                by_day[day].append(line if line.endswith(b"\n") else line + b"\n")
    return DayLines(dict(sorted(by_day.items())), rejected)


def stage_lines(landing_dir: Path, day: str, file_name: str, lines: list[bytes]) -> Path:
    """Write `<landing_dir>/<day>/<file_name>` with these lines."""
    folder = Path(landing_dir) / day
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / file_name
    target.write_bytes(b"".join(lines))
    return target
