#!/usr/bin/env python
"""Build the bundled sample: clio_dagster/sample_data/conversations.jsonl.gz + NOTICE.md.

Usage:  python scripts/build_sample.py [--data ../shared/data] [--out clio_dagster/sample_data]

Deterministic: the same inputs give the same bytes (sorted records, gzip mtime=0, no file name in
the gzip header). Only MIT / Apache-2.0 conversation sets are used (see SOURCES below).

What it does to the records:
* The sample spans 4 UTC days, 2023-02-04 .. 2023-02-07 (the busiest real days of oasst1_en_val).
  oasst1_en_val keeps its real `timestamp` when it falls in those days; its other records are left
  out. Every other source has no timestamp: one is assigned from sha256(id) (day from digest bytes
  0-7, second-of-day from bytes 8-15) and marked `metadata.timestamp_assigned = true`.
* No source has user ids: `user_id = "sample-user-%04d" % (int(sha256(id).hexdigest(), 16) % 900)`,
  synthetic, so per-cluster distinct-user thresholds have something to count.
* `metadata.source` names the source set. Source fields other than id/messages/timestamp
  (`language`, arena `label`, oasst `oasst_pii_label_nonzero`) are kept as top-level fields (they go
  into `metadata` on ingest).
* Records that the ingest validator would reject are left out and counted in NOTICE.md (in
  practice: a few hh-rlhf transcripts with an empty assistant turn -> `empty_text`).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from clio_dagster.core.ingest import IngestLimits, Rejected, SourceLocation, parse_record  # noqa: E402

DAYS = tuple(date(2023, 2, 4) + timedelta(days=i) for i in range(4))
N_USERS = 900


@dataclass(frozen=True)
class Source:
    name: str
    file: str
    licence: str
    upstream: str
    id_prefix: str
    real_timestamps: bool = False


SOURCES = (
    Source(
        "hh_rlhf_harmless",
        "conversations.jsonl",
        "MIT",
        "github:anthropics/hh-rlhf @ 354e5c3cb8960630860dd5774a6ac2a58313bf4d, file "
        "`harmless-base/test.jsonl.gz` (the `chosen` transcript of each pair)",
        "hh-",
    ),
    Source(
        "oasst1_en_val",
        "conversations.jsonl",
        "Apache-2.0",
        "github:TurkuNLP/oasst-fi @ 45e9c4600eacf5844887e321ba3952befe9727dc, file "
        "`original-data/en-validation.jsonl` (oasst1 validation messages with lang=en, as exported "
        "from HF OpenAssistant/oasst1); one conversation per message tree (best-ranked path)",
        "oasst1-val-",
        real_timestamps=True,
    ),
    Source(
        "oasst1_zh",
        "conversations.jsonl",
        "Apache-2.0",
        "github:xiaoyichao/LLaMA-Efficient-Tuning (fork of hiyouga/LLaMA-Factory) @ "
        "ec02705ced60037e895632f60da36b7c7c7bc1e2, file `data/oaast_sft_zh.json` (oasst1 messages "
        "with lang=zh, one record per root-to-leaf path)",
        "oasst1-zh-",
    ),
    Source(
        "oasst1_en_modeleval",
        "conversations.jsonl",
        "Apache-2.0",
        "github:Open-Assistant/oasst-model-eval @ ce935dee6922ec75d5a4006dd1c3595b39a01fdf, file "
        "`model_eval/manual/data/en_100_tree.jsonl` (best-ranked path per tree)",
        "oasst-modeleval-",
    ),
    Source(
        "arena_hard_v01",
        "conversations.jsonl",
        "Apache-2.0",
        "github:lmarena/arena-hard-auto @ 196f6b826783b3da7310e361a805fa36f0be83f3, files "
        "`data/arena-hard-v0.1/question.jsonl` and `data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl` "
        "(prompts from Chatbot Arena users + GPT-4-0314 answers)",
        "arenahard-v01-",
    ),
)
ALLOWED_SOURCES = frozenset(s.name for s in SOURCES)


def _digest(record_id: str) -> bytes:
    return hashlib.sha256(record_id.encode("utf-8")).digest()


def synthetic_user_id(record_id: str) -> str:
    return "sample-user-%04d" % (int.from_bytes(_digest(record_id), "big") % N_USERS)


def assigned_timestamp(record_id: str) -> datetime:
    d = _digest(record_id)
    day = DAYS[int.from_bytes(d[0:8], "big") % len(DAYS)]
    second = int.from_bytes(d[8:16], "big") % 86_400
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=second)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class SourceStats:
    read: int = 0
    included: int = 0
    outside_window: int = 0
    rejected: Counter[str] | None = None


def build(data_dir: Path) -> tuple[list[tuple[datetime, str, dict[str, Any]]], dict[str, SourceStats]]:
    out: list[tuple[datetime, str, dict[str, Any]]] = []
    stats: dict[str, SourceStats] = {}
    seen_ids: set[str] = set()
    limits = IngestLimits()
    for src in SOURCES:
        st = stats[src.name] = SourceStats(rejected=Counter())
        path = data_dir / src.name / src.file
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                st.read += 1
                raw = json.loads(line)
                rid = str(raw["id"])
                if not rid.startswith(src.id_prefix):
                    rid = f"{src.name}-{rid}"
                if rid in seen_ids:
                    raise SystemExit(f"duplicate id across sources: {rid}")
                seen_ids.add(rid)

                if src.real_timestamps:
                    ts = datetime.fromisoformat(raw["timestamp"]).astimezone(UTC)
                    if ts.date() not in DAYS:
                        st.outside_window += 1
                        continue
                    assigned = False
                else:
                    assert "timestamp" not in raw, (src.name, rid)
                    ts = assigned_timestamp(rid)
                    assigned = True

                record: dict[str, Any] = {
                    "id": rid,
                    "user_id": synthetic_user_id(rid),
                    "timestamp": _iso(ts),
                    "messages": [{"role": m["role"], "content": m["content"]} for m in raw["messages"]],
                }
                for key, value in raw.items():
                    if key not in {"id", "messages", "timestamp", "metadata"}:
                        record[key] = value
                record["metadata"] = {"source": src.name, "timestamp_assigned": assigned}

                item = parse_record(record, SourceLocation(str(path), lineno), limits)
                if isinstance(item, Rejected):
                    st.rejected[item.reason.value] += 1
                    continue
                st.included += 1
                out.append((ts, rid, record))
    out.sort(key=lambda t: (t[0], t[1]))
    return out, stats


def gzip_bytes(records: list[tuple[datetime, str, dict[str, Any]]]) -> bytes:
    body = "".join(
        json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n" for _, _, rec in records
    ).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(body)
    return buf.getvalue()


MIT_TEXT = """\
MIT License

Copyright (c) 2022 Anthropic

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def notice_text(
    records: list[tuple[datetime, str, dict[str, Any]]], stats: dict[str, SourceStats]
) -> str:
    per_day: Counter[str] = Counter(ts.date().isoformat() for ts, _, _ in records)
    per_source_day: dict[str, Counter[str]] = defaultdict(Counter)
    for ts, _, rec in records:
        per_source_day[rec["metadata"]["source"]][ts.date().isoformat()] += 1
    users = {rec["user_id"] for _, _, rec in records}
    days = [d.isoformat() for d in DAYS]

    lines = [
        "# Bundled sample conversations: sources, licences and changes",
        "",
        "`conversations.jsonl.gz` holds "
        f"{len(records)} real conversations from five openly licensed (MIT / Apache-2.0) data sets,",
        f"spread over {len(DAYS)} UTC days ({days[0]} to {days[-1]}). It is built by "
        "`scripts/build_sample.py` (deterministic) from the normalised copies described below.",
        "",
        "**Content warning:** `hh_rlhf_harmless` consists of red-teaming transcripts: crowdworkers "
        "deliberately asked for offensive, harmful, violent, sexual or illegal things. Other sets "
        "contain real user prompts that may also be offensive. Do not show the raw text to people "
        "who have not agreed to see it.",
        "",
        "## Record format",
        "",
        "One JSON object per line: `id`, `user_id`, `timestamp` (ISO-8601 UTC), `messages` "
        "(`[{role, content}]`), source fields kept as they were (`language`; `label` for "
        "arena_hard_v01; `oasst_pii_label_nonzero` for oasst1_en_val) and `metadata` = "
        "`{source, timestamp_assigned}`. Sorted by (timestamp, id).",
        "",
        "## Changes made to every source",
        "",
        f"* **Synthetic user ids.** None of the sources has user ids. `user_id` is "
        f'`"sample-user-%04d" % (int(sha256(id).hexdigest(), 16) % {N_USERS})`: a made-up '
        f"grouping ({len(users)} distinct ids) so that per-cluster distinct-user thresholds have "
        "something to count. It identifies nobody and links nothing across sources.",
        f"* **Assigned timestamps.** Only oasst1_en_val has real timestamps (the root message's "
        f"creation time); they are kept when they fall on {days[0]} .. {days[-1]} (the busiest real "
        "days of that set) and those records carry `metadata.timestamp_assigned = false`. Every "
        "other record gets a timestamp computed from sha256(id) (day from digest bytes 0-7, second "
        "of day from bytes 8-15) and `metadata.timestamp_assigned = true`. These timestamps are "
        "not real.",
        "* **Ids** are the normalised sets' own ids (already unique across sources, prefixed by set).",
        "* **Text** is unmodified.",
        "* **Dropped records**: records whose real timestamp falls outside the window, and records "
        "that the ingest validator (`clio_dagster.core.ingest`) rejects; counts below.",
        "",
        "## Sources",
        "",
        "| source | licence | read | included | dropped: outside window | dropped: rejected by ingest |",
        "|---|---|---|---|---|---|",
    ]
    for src in SOURCES:
        st = stats[src.name]
        rej = ", ".join(f"{n} {r}" for r, n in sorted(st.rejected.items())) or "0"
        lines.append(
            f"| {src.name} | {src.licence} | {st.read} | {st.included} | {st.outside_window} | {rej} |"
        )
    lines += [
        f"| **total** | | {sum(s.read for s in stats.values())} | {len(records)} | "
        f"{sum(s.outside_window for s in stats.values())} | "
        f"{sum(sum(s.rejected.values()) for s in stats.values())} |",
        "",
        "Records per day:",
        "",
        "| source | " + " | ".join(days) + " |",
        "|---|" + "---|" * len(days),
    ]
    for src in SOURCES:
        lines.append(
            f"| {src.name} | " + " | ".join(str(per_source_day[src.name][d]) for d in days) + " |"
        )
    lines.append("| **total** | " + " | ".join(str(per_day[d]) for d in days) + " |")
    lines.append("")

    details = {
        "hh_rlhf_harmless": (
            "Anthropic HH-RLHF, harmless-base test split: crowdworker red-teaming prompts with "
            "52B-model replies, parsed on `Human:` / `Assistant:` turns. Licence: MIT, "
            "Copyright (c) 2022 Anthropic (full text below). About three quarters of the upstream "
            "split is included (the rest is kept apart for evaluation). Records with an empty "
            "assistant turn are rejected by ingest (`empty_text`) and left out."
        ),
        "oasst1_en_val": (
            "OpenAssistant oasst1 (English, validation split), one conversation per message tree "
            "(root prompt, then the best-ranked child at each level). Licence: Apache-2.0. "
            f"{stats['oasst1_en_val'].outside_window} of its {stats['oasst1_en_val'].read} "
            f"records have a real timestamp outside {days[0]} .. {days[-1]} and are left out."
        ),
        "oasst1_zh": (
            "OpenAssistant oasst1 Chinese conversations (one record per root-to-leaf path; several "
            "records can share their opening turns). Licence: Apache-2.0 (oasst1; the LLaMA-Factory "
            "repository is Apache-2.0 too). About three quarters of the upstream records are "
            "included (the rest is kept apart for evaluation)."
        ),
        "oasst1_en_modeleval": (
            "OpenAssistant, 100 English prompt trees used for model evaluation (best-ranked path; "
            "trees with synthetic messages dropped upstream of this sample). Licence: Apache-2.0."
        ),
        "arena_hard_v01": (
            "Arena-Hard-Auto v0.1: 500 prompts from Chatbot Arena users with the GPT-4-0314 answer; "
            "`label` = the upstream topic cluster. Licence: Apache-2.0 (repository LICENSE)."
        ),
    }
    for src in SOURCES:
        lines += [
            f"### {src.name}",
            "",
            f"* Upstream: {src.upstream}.",
            f"* Licence: {src.licence}.",
            f"* Included: {stats[src.name].included} records.",
            f"* {details[src.name]}",
            "",
        ]
    lines += [
        "## Licence texts",
        "",
        "### MIT (hh_rlhf_harmless, from github:anthropics/hh-rlhf)",
        "",
        "```",
        MIT_TEXT.rstrip("\n"),
        "```",
        "",
        "### Apache-2.0 (oasst1_en_val, oasst1_zh, oasst1_en_modeleval, arena_hard_v01)",
        "",
        "The OpenAssistant oasst1 data (LAION / OpenAssistant contributors), the oasst-model-eval "
        "data and the Arena-Hard-Auto data (LMSYS / lmarena) are licensed under the Apache License, "
        "Version 2.0 (the \"License\"); you may not use these files except in compliance with the "
        "License. You may obtain a copy of the License at "
        "<https://www.apache.org/licenses/LICENSE-2.0>. Unless required by applicable law or agreed "
        "to in writing, software distributed under the License is distributed on an \"AS IS\" "
        "BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the "
        "License for the specific language governing permissions and limitations under the "
        "License. Changes made: see \"Changes made to every source\" above (records selected, "
        "re-serialised, synthetic user ids and timestamps added).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "clio_dagster" / "sample_data")
    args = ap.parse_args(argv)

    records, stats = build(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    gz = gzip_bytes(records)
    (args.out / "conversations.jsonl.gz").write_bytes(gz)
    (args.out / "NOTICE.md").write_text(notice_text(records, stats), encoding="utf-8")

    per_day = Counter(ts.date().isoformat() for ts, _, _ in records)
    print(f"wrote {len(records)} records, {len(gz)} bytes gz, sha256 {hashlib.sha256(gz).hexdigest()}")
    for src in SOURCES:
        st = stats[src.name]
        print(f"  {src.name}: read {st.read} included {st.included} outside {st.outside_window} rejected {dict(st.rejected)}")
    print("  per day:", dict(sorted(per_day.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
