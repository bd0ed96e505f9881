"""Privacy leakage benchmark: `clio eval privacy` (clio_dagster/evaluation/privacy.py, where the method is
described), plus bench/results/privacy_eval.json and the `privacy_eval` section of BENCHMARKS.md.

    .venv/bin/python bench/privacy_eval.py [--shared-data ../shared/data] [--home DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clio_dagster.evaluation.privacy import ID_PREFIX, PII_DATASETS, run_privacy_eval  # noqa: E402
from clio_dagster.evaluation.shared_data import shared_data_dir  # noqa: E402

__all__ = ["ID_PREFIX", "markdown", "run_privacy_eval"]

SECTION_START = "<!-- privacy_eval:start -->"
SECTION_END = "<!-- privacy_eval:end -->"
COMMAND = ".venv/bin/python bench/privacy_eval.py"


def markdown(result: dict) -> str:
    rows = "\n".join(
        f"| {kind} | {v['spans']:,} | {v['leaked_in_summary']:,} | {v['summary_leak_rate']:.3f} | {v['leaked_public']} |"
        for kind, v in result["per_label"].items()
    )
    ratings = ", ".join(f"rated {k}: {v}" for k, v in result["published_audit_ratings"].items()) or "none"
    decisions = ", ".join(f"{k} {v}" for k, v in result["pipeline_audit_decisions"].items()) or "n/a"
    common = ", ".join(f"`{w}`" for w in result["public_matches_common_words"]) or "none"
    taxonomy_only = ", ".join(f"`{w}`" for w in result.get("public_matches_taxonomy_text", [])) or "none"
    outcome = (
        ", and none of it reached the public DB in this run."
        if result["leaked_public"] == 0
        else f"; in this run {result['leaked_public']} string(s) still reached the public DB (see the JSON)."
    )
    return f"""{SECTION_START}
## Privacy leakage, offline, bundled sample + injected labelled PII ({result['date']}, {result['machine']['cpus']} CPUs)

Command: `{COMMAND}` (reads `../shared/data/pii_presidio_synth` and `../shared/data/pii_ambientmeta_bench`)

Each labelled PII text becomes the first user turn of its own conversation, with its own user, spread
over the sample's {len(result['days'])} days; the offline pipeline then runs with the default thresholds
(min {result['min_unique_users']} users, min {result['min_conversations']} conversations per cluster).
A PII string counts as leaked when it occurs (case-insensitive, whole words) in the text; in the public
DB, labelled strings that are everyday words written by at least min-users sample users themselves
(e.g. ambientmeta's contextual PERSON "English") are listed apart ({common}) and not counted, nor are
those found only inside the taxonomy's own sentences or English glosses, public text written before any data
(a surname "Green" against a leaf's "green cards"; here: {taxonomy_only}).

| measure | value | Clio (App. D) |
|---|---|---|
| injected conversations / tracked PII strings | {result['n_injected']:,} / {result['n_spans']:,} (+ {result['n_sample_conversations']:,} sample conversations) | |
| injected conversations whose private summary keeps one of its PII strings | **{result['leaked_summaries_rate']:.1%}** ({result['leaked_summaries']:,}) | ~1.5% of all summaries vs ~10% of raw conversations hold private info, i.e. roughly 15% of the conversations that had some (derived) |
| PII strings found anywhere in the public DB | **{result['leaked_public']}** | 0 published clusters with private info |
| published clusters, all levels (offline auditor re-rating them) | {result['published_clusters']} ({ratings}) | almost all 5, none below 3 |
| pipeline audit decisions (all levels, all clusters) | {decisions} | |
| injected conversations counted inside a published cluster (numbers only) | {result['injected_in_published_clusters']:,} | |
| sample conversations the offline auditor rates < 3: first user turn → summary | {result['sample_first_turn_rated_below_3']:.1%} → {result['sample_summary_rated_below_3']:.1%} | |
| wall time, total (of which staging + pipeline) | {result['seconds']:.0f} s ({result['pipeline_seconds']:.0f} s) | |

| kind | PII strings | kept in summary | summary leak rate | in public DB |
|---|---:|---:|---:|---:|
{rows}

The summary leak is layer 1 only (the extractive summary and its regex/name-list scrubber; person names
outside the US-census first-name list and bare street names are what it misses). Those summaries stay in
the private DB: every injected conversation is a different user, so its own wording never reaches the
user threshold that cluster names and facet values need{outcome}
{SECTION_END}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--home", type=Path, default=None, help="CLIO_HOME for the run (default: a temp dir, removed)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "privacy_eval.json")
    args = parser.parse_args(argv)
    shared_data = shared_data_dir(args.shared_data, PII_DATASETS)
    if args.home is None:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_privacy_eval(shared_data, Path(tmp) / "clio")
    else:
        result = run_privacy_eval(shared_data, args.home)
    from bench.bench_pipeline import write_result

    write_result(result, args.out, markdown(result), SECTION_START, SECTION_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
