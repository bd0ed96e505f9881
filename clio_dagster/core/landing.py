"""Which landing records belong to a day's partition.

A record belongs to the UTC day of its own timestamp; a record without one belongs to the day of
the landing folder it sits in. Folder D is scanned together with its `lookaround` neighbours, so a
record that arrived a day late still reaches its partition. A record whose timestamp is further from
its folder than that can't be found by its own partition, so the folder's partition quarantines it:
every record is counted by exactly one partition, accepted or quarantined.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from clio_dagster.core.ingest import (
    Accepted,
    DuplicateFilter,
    IngestLimits,
    Rejected,
    RejectReason,
    iter_landing_file,
)

LANDING_SUFFIXES = (".jsonl", ".json", ".parquet")
OUTSIDE_WINDOW = "timestamp_outside_window"


@dataclass
class PartitionInput:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    files_read: int = 0

    @property
    def records_in(self) -> int:
        return len(self.accepted) + len(self.rejected)


def landing_files(landing_dir: Path, day: date) -> list[Path]:
    folder = landing_dir / day.isoformat()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in LANDING_SUFFIXES and not p.name.startswith("."))


def landing_data_version(landing_dir: Path, day: date, lookaround: int) -> str:
    """Digest of the names, sizes and modification times of the landing files a partition reads (its own
    folder and the look-around days'): equal exactly when the files are unchanged."""
    digest = hashlib.sha256()
    for offset in range(-lookaround, lookaround + 1):
        folder_day = day + timedelta(days=offset)
        for path in landing_files(landing_dir, folder_day):
            stat = path.stat()
            digest.update(f"{folder_day}/{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:24]


def _owner(item: Accepted | Rejected, folder_day: date) -> date:
    if isinstance(item, Accepted) and item.conversation.timestamp is not None:
        return item.conversation.timestamp.date()
    return folder_day


def _scan(landing_dir: Path, day: date, lookaround: int, limits: IngestLimits) -> Iterator[tuple[date, Path, Accepted | Rejected]]:
    for offset in range(-lookaround, lookaround + 1):
        folder_day = day + timedelta(days=offset)
        for path in landing_files(landing_dir, folder_day):
            for item in iter_landing_file(path, limits):
                yield folder_day, path, item


def collect_partition(landing_dir: Path, day: date, lookaround: int, limits: IngestLimits) -> PartitionInput:
    result = PartitionInput()
    duplicates = DuplicateFilter()
    seen_files: set[Path] = set()
    for folder_day, path, item in _scan(landing_dir, day, lookaround, limits):
        owner = _owner(item, folder_day)
        if abs((owner - folder_day).days) > lookaround:
            # Its own partition never scans this folder: the folder's partition keeps it, quarantined.
            if folder_day != day:
                continue
            item = Rejected(
                location=item.location,
                record_id=item.conversation.conversation_id,  # type: ignore[union-attr]
                reason=RejectReason.BAD_TIMESTAMP,
                detail=f"{OUTSIDE_WINDOW}: timestamp day {owner} is more than {lookaround} day(s) from landing folder {folder_day}",
            )
        elif owner != day:
            continue
        seen_files.add(path)
        item = duplicates(item)
        if isinstance(item, Accepted):
            result.accepted.append(item)
        else:
            result.rejected.append(item)
    result.files_read = len(seen_files)
    return result
