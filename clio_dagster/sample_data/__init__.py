"""The bundled sample: ~2,900 real MIT / Apache-2.0 conversations over 4 UTC days.

`conversations.jsonl.gz` is built by `scripts/build_sample.py`; sources, licences and every change
made (synthetic user ids, assigned timestamps, dropped records) are in `NOTICE.md` next to it.
Content warning: it includes HH-RLHF red-teaming transcripts (offensive / harmful requests).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["SAMPLE_FILE_NAME", "notice_path", "sample_path", "stage_sample"]

SAMPLE_FILE_NAME = "sample.jsonl"


def sample_path() -> Path:
    """Path of the bundled `conversations.jsonl.gz`."""
    return Path(__file__).resolve().with_name("conversations.jsonl.gz")


def notice_path() -> Path:
    return Path(__file__).resolve().with_name("NOTICE.md")


def _utc_date(line: bytes) -> str:
    ts = datetime.fromisoformat(json.loads(line)["timestamp"])
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).date().isoformat()


def stage_sample(landing_dir: Path) -> dict[str, int]:
    """Write `<landing_dir>/<YYYY-MM-DD>/sample.jsonl` for each UTC day of the sample.

    Idempotent: each day's file is rewritten (atomically, via a temp file + rename) with the same
    bytes every time; other files in the landing folders are left alone. Returns {date: records}.
    """
    landing_dir = Path(landing_dir)
    by_day: dict[str, list[bytes]] = defaultdict(list)
    with gzip.open(sample_path(), "rb") as fh:
        for line in fh:
            if line.strip():
                by_day[_utc_date(line)].append(line if line.endswith(b"\n") else line + b"\n")

    counts: dict[str, int] = {}
    for day in sorted(by_day):
        folder = landing_dir / day
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{SAMPLE_FILE_NAME}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.writelines(by_day[day])
            os.chmod(tmp, 0o644)
            os.replace(tmp, folder / SAMPLE_FILE_NAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        counts[day] = len(by_day[day])
    return counts
