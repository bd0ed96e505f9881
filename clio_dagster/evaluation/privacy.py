"""Privacy leakage: inject labelled PII conversations into the bundled sample, run the offline pipeline, and
count what leaks into the private summaries and into the public DB.

    clio eval privacy [--shared-data ../shared/data] [--home DIR] [--per-day N] [--pii-per-day N]

Clio (App. D) reports ~10% of raw conversations with private information, ~1.5% of summaries, and no
published cluster rated below 3. Here every injected conversation holds private information by
construction (a labelled synthetic PII text from `pii_presidio_synth` and `pii_ambientmeta_bench` as its
first user turn, its own user id), so the numbers answer two questions:

* `leaked_summaries_rate`: share of injected conversations whose private summary (`facets.request`)
  still contains one of its own labelled PII strings (layer 1: the summary / scrubber).
* `leaked_public`: labelled PII strings found anywhere in the public DB (every text column of every
  table): what layers 2-4 let through. Clio's claim is 0.

Strings are matched case-insensitively as whole words (not inside a longer word or number). A labelled
string that matches the public DB but is everyday vocabulary written by >= min_unique_users users of the
sample itself (e.g. a PERSON span "English" from ambientmeta's contextual pairs, where the same word is a
language elsewhere) is reported in `public_matches_common_words` and not counted as a leak; nor is one found
only inside the taxonomy's own sentences or its English glosses (`public_matches_taxonomy_text`: a surname
"Green" against a leaf's "green cards"), public text written before any data. Only spans of
identifying kinds are tracked (person names, emails, phones, cards, SSNs, IBANs, IPs, street addresses),
and spans shorter than 4 characters are skipped. Records with no tracked span are not injected.

The labelled PII sets are not in the package: they are read from `--shared-data` (default
`../shared/data` from the current directory). `bench/privacy_eval.py` runs the same evaluation and also
writes bench/results/privacy_eval.json and the `privacy_eval` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from clio_dagster.evaluation.shared_data import DEFAULT_SHARED_DATA, shared_data_dir
from clio_dagster.evaluation.staging import conversation_lines_by_day, stage_lines
from clio_dagster.settings import ClioSettings, SettingsError


ID_PREFIX = "pii-eval-"
MIN_SPAN_CHARS = 4
ASSISTANT_REPLY = "Sure, I can help with that. Could you tell me a little more about what you need?"

# Dataset label -> reported kind. presidio: generated_large uses ADDRESS, synth_dataset_v2 STREET_ADDRESS;
# ambientmeta writes PHONE / EMAIL / SSN. Places, organisations, dates and medical ids (MRN, NPI) are not tracked.
TRACKED_LABELS = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "PHONE": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "US_SSN": "US_SSN",
    "SSN": "US_SSN",
    "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "STREET_ADDRESS": "STREET_ADDRESS",
    "ADDRESS": "STREET_ADDRESS",
}
PII_DATASETS = ("pii_presidio_synth", "pii_ambientmeta_bench")


def load_sample(n_per_day: int | None) -> dict[str, list[bytes]]:
    """The bundled sample's JSONL lines by UTC day, at most `n_per_day` each (file order)."""
    from clio_dagster.sample_data import sample_path

    return conversation_lines_by_day(sample_path(), n_per_day).by_day


def load_pii_texts(shared_data: Path) -> list[dict]:
    """Labelled PII records with at least one tracked span: {source, text, spans: [(kind, string)]}."""
    records = []
    for dataset in PII_DATASETS:
        paths = sorted((shared_data / dataset).glob("*.jsonl"))
        if not paths:
            raise SettingsError(
                f"No labelled PII data at {shared_data / dataset} (*.jsonl): pass --shared-data DIR, the folder "
                f"that holds {' and '.join(PII_DATASETS)} (default {DEFAULT_SHARED_DATA} from the current directory)."
            )
        for path in paths:
            for line in path.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                rec = json.loads(line)
                text = rec["text"]
                spans = []
                for span in rec.get("spans") or []:
                    kind = TRACKED_LABELS.get(span["label"])
                    string = text[span["start"] : span["end"]].strip()
                    if kind and len(string) >= MIN_SPAN_CHARS:
                        spans.append((kind, string))
                if spans and text.strip():
                    records.append({"source": f"{dataset}/{rec['id']}", "text": text, "spans": spans})
    return records


def _assign_days(records: list[dict], days: list[str], n_per_day: int | None) -> list[tuple[str, dict]]:
    """Deterministic shuffle, then round-robin over the days, at most `n_per_day` per day."""
    shuffled = list(records)
    random.Random(0).shuffle(shuffled)
    limit = len(shuffled) if n_per_day is None else n_per_day * len(days)
    return [(days[i % len(days)], rec) for i, rec in enumerate(shuffled[:limit])]


def _injected_record(i: int, day: str, text: str) -> dict:
    ts = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=6, seconds=7 * (i // 4))
    return {
        "id": f"{ID_PREFIX}{i:05d}",
        "user_id": f"{ID_PREFIX}user-{i:05d}",
        "timestamp": ts.isoformat().replace("+00:00", "Z"),
        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": ASSISTANT_REPLY}],
    }


def _matcher(strings: list[str]) -> re.Pattern[str]:
    """Case-insensitive whole-word match of any of `strings` (whitespace inside a string may vary)."""
    parts = sorted({r"\s+".join(map(re.escape, s.split())) for s in strings if s.split()}, key=len, reverse=True)
    return re.compile(r"(?<![\w])(?:" + "|".join(parts) + r")(?![\w])", re.IGNORECASE)


def _contains(text: str, string: str) -> bool:
    return bool(_matcher([string]).search(text))


_GLOSS = re.compile(r"\(≈ [^()]*\)")


def without_taxonomy_text(text: str, taxonomy) -> str:
    """`text` with every sentence of the taxonomy (node names and descriptions, longest first) and every gloss
    ("(≈ paraphrase)", a word of its vocabulary) cut out, each replaced by a line break."""
    sentences = sorted({t for node in taxonomy.nodes.values() for t in (node.name, node.description) if t},
                       key=len, reverse=True)
    for sentence in sentences:
        text = text.replace(sentence, "\n")
    return _GLOSS.sub("\n", text)


def _public_text(con) -> str:
    """Every text-bearing column of every table of the public DB, as one string."""
    columns = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    by_table: dict[str, list[str]] = defaultdict(list)
    for table, column, dtype in columns:
        if any(t in dtype.upper() for t in ("VARCHAR", "JSON", "STRUCT", "MAP", "TEXT")):
            by_table[table].append(column)
    chunks = []
    for table, cols in by_table.items():
        select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)
        for row in con.execute(f'SELECT {select} FROM "{table}"').fetchall():
            chunks.extend(v for v in row if v)
    return "\n".join(chunks)


def _sample_users_writing(sample: dict[str, list[bytes]], string: str) -> int:
    """Distinct users of the (un-injected) sample whose own user turns contain `string` as whole words."""
    pattern = _matcher([string])
    users = set()
    for lines in sample.values():
        for line in lines:
            record = json.loads(line)
            turns = " ".join(str(m.get("content") or "") for m in record.get("messages", []) if m.get("role") == "user")
            if pattern.search(turns):
                users.add(record.get("user_id"))
    return len(users)


def _has_column(con, table: str, column: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?", [table, column]
    ).fetchone()[0])


def run_privacy_eval(
    shared_data: Path, home: Path, n_per_day: int | None = None, n_pii_per_day: int | None = None
) -> dict:
    """Stage sample + injected PII under `home`, run all partitions offline, measure leakage.

    `n_per_day` caps the sample's conversations per day; `n_pii_per_day` caps the injected PII
    conversations per day (default: `n_per_day`). None means everything.
    """
    import duckdb

    from clio_dagster.assets.hierarchy import base_node_id
    from clio_dagster.runner import run_partitions
    from clio_dagster.core.audit import OfflineAuditor, rare_terms_of
    from clio_dagster.core.taxonomy import load_taxonomy, public_words

    started = time.perf_counter()
    shared_data, home = Path(shared_data), Path(home)
    settings = ClioSettings(home=home, llm_backend="offline", demo_mode=True)
    if n_pii_per_day is None:
        n_pii_per_day = n_per_day

    sample = load_sample(n_per_day)
    days = list(sample)
    pii_records = load_pii_texts(shared_data)
    injected = _assign_days(pii_records, days, n_pii_per_day)

    expected: dict[str, list[tuple[str, str]]] = {}
    per_day_lines: dict[str, list[str]] = defaultdict(list)
    for i, (day, rec) in enumerate(injected):
        record = _injected_record(i, day, rec["text"])
        expected[record["id"]] = rec["spans"]
        per_day_lines[day].append(json.dumps(record, ensure_ascii=False) + "\n")
    for day in days:
        stage_lines(settings.landing_dir, day, "sample.jsonl", sample[day])
        stage_lines(settings.landing_dir, day, "pii_eval.jsonl", [line.encode() for line in per_day_lines[day]])

    with open(os.devnull, "w") as quiet:
        ok = run_partitions(settings, [date.fromisoformat(d) for d in days], out=quiet)
    if not ok:
        raise RuntimeError("the pipeline failed on at least one partition (run `clio run` on this home to see why)")
    pipeline_seconds = time.perf_counter() - started

    # Layer 1: private summaries of the injected conversations.
    con = duckdb.connect(str(settings.private_db), read_only=True)
    try:
        summaries = dict(
            con.execute("SELECT conversation_id, request FROM facets WHERE starts_with(conversation_id, ?)", [ID_PREFIX])
            .fetchall()
        )
        partitions = {}
        for (day,) in con.execute("SELECT DISTINCT partition_date FROM facets ORDER BY 1").fetchall():
            rows = con.execute(
                "SELECT request, user_hash FROM facets WHERE partition_date = ?", [day]
            ).fetchall()
            partitions[day.isoformat()] = rows
        members = con.execute(
            "SELECT partition_date, conversation_id, cluster_id FROM base_cluster_members "
            "WHERE starts_with(conversation_id, ?)",
            [ID_PREFIX],
        ).fetchall()
        decisions = (
            dict(con.execute("SELECT decision, count(*) FROM cluster_audit GROUP BY 1 ORDER BY 1").fetchall())
            if _has_column(con, "cluster_audit", "decision")
            else {}
        )
        sample_turns = con.execute(
            "SELECT f.request, r.messages FROM facets f JOIN raw_conversations r USING (partition_date, conversation_id) "
            "WHERE NOT starts_with(f.conversation_id, ?)",
            [ID_PREFIX],
        ).fetchall()
    finally:
        con.close()

    label_spans: Counter[str] = Counter()
    label_leaks: Counter[str] = Counter()
    leaked_conversations = 0
    for cid, spans in expected.items():
        summary = summaries.get(cid, "")
        leaked_here = False
        for kind, string in spans:
            label_spans[kind] += 1
            if _contains(summary, string):
                label_leaks[kind] += 1
                leaked_here = True
        leaked_conversations += leaked_here
    n_injected = len(expected)
    n_spans = sum(label_spans.values())

    # Layers 2-4: anything in the public DB.
    con = duckdb.connect(str(settings.public_db), read_only=True)
    try:
        public = _public_text(con)
        level = "level" if _has_column(con, "published_clusters", "level") else "0"
        published = con.execute(
            f"SELECT partition_date, cluster_id, name, description, {level} FROM published_clusters ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    taxonomy = load_taxonomy(settings.taxonomy)
    public_flat = " ".join(public.lower().split())
    matched = {
        (kind, string.lower())
        for spans in expected.values()
        for kind, string in spans
        if " ".join(string.lower().split()) in public_flat and _contains(public, string)
    }
    # The taxonomy's own sentences (a leaf's name and description quoted in a cluster's, "green cards") and the
    # English glosses drawn from its vocabulary were written before any data: a labelled string found only
    # there is the taxonomy's word, not the user's.
    outside_taxonomy = without_taxonomy_text(public, taxonomy)
    taxonomy_only = {string for _, string in matched if not _contains(outside_taxonomy, string)}
    matched = {(kind, string) for kind, string in matched if string not in taxonomy_only}
    # A labelled string that is also everyday vocabulary of the sample (a surname "White", ambientmeta's
    # contextual PERSON "English") matches the public DB without anything leaking: it does not count when
    # at least min_unique_users distinct sample users (none of them injected) wrote it themselves.
    common = {string for _, string in matched if _sample_users_writing(sample, string) >= settings.min_unique_users}
    leaked_pairs = {(kind, string) for kind, string in matched if string not in common}
    leaked_strings = sorted({string for _, string in leaked_pairs})
    leaked_public_by_label = Counter(kind for kind, _ in leaked_pairs)

    # The offline auditor over what was published (Clio: almost all 5, none below 3), as the pipeline's auditor
    # rates: the taxonomy's words are public vocabulary, never one user's rare term.
    taxonomy_words = public_words(taxonomy)
    audit_ratings: Counter[int] = Counter()
    for day, _cid, name, description, _level in published:
        rows = partitions.get(day.isoformat(), [])
        auditor = OfflineAuditor(rare_terms_of([r[0] for r in rows], [r[1] for r in rows], settings.min_unique_users),
                                 safe_words=taxonomy_words)
        audit_ratings[auditor.audit(name, description).rating] += 1

    # Where injected conversations ended up: counted inside a published cluster (as numbers only) or not.
    published_ids = {(d.isoformat(), c) for d, c, _, _, level in published if level == 0}
    in_published = sum(1 for d, _cid, cluster in members if (d.isoformat(), base_node_id(cluster)) in published_ids)

    # Baseline on the sample itself: the auditor's view of first user turns vs their summaries.
    auditor = OfflineAuditor()
    raw_flagged = summary_flagged = 0
    for request, messages in sample_turns:
        first = next((m["text"] for m in messages if m["role"] == "user" and m["text"]), "")
        raw_flagged += auditor.audit(first[:4000], "").rating < 3
        summary_flagged += auditor.audit(request, "").rating < 3

    per_label = {
        kind: {
            "spans": label_spans[kind],
            "leaked_in_summary": label_leaks[kind],
            "summary_leak_rate": round(label_leaks[kind] / label_spans[kind], 4) if label_spans[kind] else None,
            "leaked_public": leaked_public_by_label[kind],
        }
        for kind in sorted(label_spans)
    }
    return {
        "benchmark": "privacy_eval",
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "leaked_public": len(leaked_strings),
        "leaked_public_strings": leaked_strings,
        "public_matches_common_words": sorted(common),
        "public_matches_taxonomy_text": sorted(taxonomy_only),
        "leaked_summaries_rate": round(leaked_conversations / n_injected, 4) if n_injected else 0.0,
        "leaked_summaries": leaked_conversations,
        "n_spans": n_spans,
        "n_injected": n_injected,
        "n_pii_records_available": len(pii_records),
        "n_sample_conversations": sum(len(v) for v in sample.values()),
        "days": days,
        "per_label": per_label,
        "injected_in_published_clusters": in_published,
        "published_clusters": len(published),
        "pipeline_audit_decisions": decisions,
        "published_audit_ratings": {str(k): audit_ratings[k] for k in sorted(audit_ratings)},
        "sample_first_turn_rated_below_3": round(raw_flagged / len(sample_turns), 4) if sample_turns else None,
        "sample_summary_rated_below_3": round(summary_flagged / len(sample_turns), 4) if sample_turns else None,
        "min_unique_users": settings.min_unique_users,
        "min_conversations": settings.min_conversations,
        "pipeline_seconds": round(pipeline_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _cmd_privacy(args: argparse.Namespace) -> int:
    shared_data = shared_data_dir(args.shared_data, PII_DATASETS)
    kwargs = {"n_per_day": args.per_day, "n_pii_per_day": args.pii_per_day}
    if args.home is None:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_privacy_eval(shared_data, Path(tmp) / "clio", **kwargs)
    else:
        result = run_privacy_eval(shared_data, args.home, **kwargs)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "privacy", help="inject labelled PII into the sample, run offline, count leaks (prints one JSON object)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shared-data", type=Path, default=None,
                        help=f"folder holding {' and '.join(PII_DATASETS)} (default: {DEFAULT_SHARED_DATA})")
    parser.add_argument("--home", type=Path, default=None, help="CLIO_HOME for the run (default: a temp dir, removed)")
    parser.add_argument("--per-day", type=int, default=None, help="at most N sample conversations per day")
    parser.add_argument("--pii-per-day", type=int, default=None,
                        help="at most N injected PII conversations per day (default: --per-day)")
    parser.set_defaults(func=_cmd_privacy)
