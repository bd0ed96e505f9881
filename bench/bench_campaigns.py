"""Campaign detection (safety mode): false alarms on real background traffic with nothing planted, and the
planted campaigns found over the same background.

    .venv/bin/python bench/bench_campaigns.py [--shared-data ../shared/data] [--out bench/results/campaigns.json]

Background: the first user turn of every record of the conversation and prompt sets in ../shared/data
(clio_dagster/evaluation/campaigns.py), one account per record, read as the offline facet step reads it
(the scrubbed request summary), spread over 3 days of one window. The detector is core/campaigns.py with
the given parameters; the embedding-based near-identical groups are not part of this measurement (they add
links only where ≥ 10 accounts already send near-identical requests). Planted: a 2-slot and a 3-slot
template, 30 accounts × 2 requests each (5 seeds), and 30 accounts each wording one request their own way.
Writes the JSON result and the `campaigns` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import write_result  # noqa: E402
from clio_dagster.core.campaigns import CampaignParams, find_campaigns  # noqa: E402
from clio_dagster.evaluation.campaigns import (  # noqa: E402
    BACKGROUND_SETS,
    PARAPHRASED,
    THREE_SLOTS,
    TWO_SLOTS,
    background_records,
    offline_requests,
    planted_records,
    planted_share,
)

SECTION_START = "<!-- campaigns:start -->"
SECTION_END = "<!-- campaigns:end -->"
DAYS = (date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6))
SEEDS = range(5)
SWEEP = [(similarity, words) for similarity in (0.4, 0.45, 0.5, 0.6) for words in (5, 6, 8)]
DEFAULT = CampaignParams()
PARAPHRASE_THRESHOLDS = (0.9, 0.91, 0.92, 0.93, 0.94, 0.95)
PARAPHRASE_BACKGROUND_PER_SET = 250


def _recall(background, planted, prefix: str, params: CampaignParams) -> dict:
    requests = background + planted
    holding = [c for c in find_campaigns(requests, params) if planted_share(c, requests, prefix)[0]]
    shares = [planted_share(c, requests, prefix) for c in holding]
    return {"campaigns": len(holding), "planted_accounts": max((p for p, _ in shares), default=0),
            "other_accounts": sum(o for _, o in shares)}


def paraphrase_groups(shared: Path, per_set: int) -> dict:
    """The paraphrased campaign as near-identical groups (coordinated_use) on the pipeline's own vectors: the
    default embedder, language-centred as summary_embeddings stores them, at several cosine thresholds."""
    from clio_dagster.core.coordination import near_duplicate_groups
    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.core.language import detect_language
    from clio_dagster.core.language_centering import centre_languages
    from clio_dagster.settings import ClioSettings

    defaults = ClioSettings.model_fields
    requests = (offline_requests(background_records(shared, DAYS[:1], per_set=per_set))
                + offline_requests(planted_records(PARAPHRASED, per_account=1, days=DAYS[:1])))
    started = time.perf_counter()
    vectors = SentenceEmbedder(defaults["embedding_model"].default).encode([r.text for r in requests])
    if defaults["language_neutral"].default:
        vectors = centre_languages(vectors, [detect_language(r.text).code for r in requests])
    seconds = time.perf_counter() - started
    accounts = [r.account for r in requests]
    rows = []
    for threshold in PARAPHRASE_THRESHOLDS:
        groups = near_duplicate_groups(vectors, accounts, threshold, defaults["coordination_min_accounts"].default)
        planted = [sum(accounts[m].startswith("planted/") for m in g.members) for g in groups]
        rows.append({"threshold": threshold, "background_groups": sum(1 for p in planted if p == 0),
                     "per_1000": round(1000 * sum(1 for p in planted if p == 0) / (len(requests) - 30), 2),
                     "paraphrased_accounts_held": max(planted, default=0)})
    return {"background_conversations": len(requests) - 30, "embedding_model": defaults["embedding_model"].default,
            "language_neutral": defaults["language_neutral"].default,
            "default_threshold": defaults["coordination_similarity"].default, "encode_seconds": round(seconds, 1),
            "thresholds": rows}


def measure(shared: Path) -> dict:
    background = offline_requests(background_records(shared, DAYS))
    started = time.perf_counter()
    alarms = find_campaigns(background, DEFAULT)
    seconds = time.perf_counter() - started
    per_set: dict[str, int] = {}
    false_alarms = []
    for c in alarms:
        sets = sorted({background[m].key.split("/")[0] for m in c.members})
        false_alarms.append({"accounts": c.accounts, "days": len(c.per_day), "template_words": c.template_words,
                             "slots": c.slots, "sets": sets})
        for name in sets:
            per_set[name] = per_set.get(name, 0) + 1
    planted = {}
    for template in (TWO_SLOTS, THREE_SLOTS):
        runs = [_recall(background, offline_requests(planted_records(template, days=DAYS, seed=seed)),
                        f"planted/{template.name}/", DEFAULT) for seed in SEEDS]
        planted[template.name] = {"slots": len(template.slots), "runs": runs,
                                  "one_campaign_every_seed": all(r["campaigns"] == 1 for r in runs),
                                  "min_planted_accounts": min(r["planted_accounts"] for r in runs)}
    paraphrased = offline_requests(planted_records(PARAPHRASED, per_account=1, days=DAYS))
    planted["paraphrased"] = _recall(background, paraphrased, "planted/paraphrased/", DEFAULT)
    sweep = []
    two = offline_requests(planted_records(TWO_SLOTS, days=DAYS, seed=0))
    three = offline_requests(planted_records(THREE_SLOTS, days=DAYS, seed=0))
    for similarity, words in SWEEP:
        params = CampaignParams(similarity=similarity, min_words=words)
        found = len(find_campaigns(background, params))
        sweep.append({"similarity": similarity, "min_words": words, "false_alarms": found,
                      "per_1000": round(1000 * found / len(background), 2),
                      "two_slots": _recall(background, two, "planted/vaccine-claims/", params),
                      "three_slots": _recall(background, three, "planted/fake-reviews/", params)})
    return {
        "background_sets": list(BACKGROUND_SETS), "background_conversations": len(background),
        "days": [str(d) for d in DAYS], "params": DEFAULT.__dict__,
        "false_alarms": len(alarms), "false_alarms_per_1000": round(1000 * len(alarms) / len(background), 2),
        "false_alarm_campaigns": false_alarms, "false_alarms_per_set": per_set,
        "detector_seconds": round(seconds, 2), "planted": planted, "sweep": sweep,
        "paraphrase_groups": paraphrase_groups(shared, PARAPHRASE_BACKGROUND_PER_SET),
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }


def section(result: dict) -> str:
    planted = result["planted"]
    lines = [
        SECTION_START,
        "## Campaigns: false alarms on real traffic, planted campaigns found (safety mode)",
        "",
        f"`.venv/bin/python bench/bench_campaigns.py` ({result['background_conversations']:,} background "
        f"conversations: the first user turn of every record of {len(result['background_sets'])} conversation and "
        "prompt sets in `../shared/data`, one account each, offline request summaries, 3 days of one window; "
        f"detector `core/campaigns.py`, defaults: similarity {result['params']['similarity']}, "
        f"≥ {result['params']['min_accounts']} accounts, ≥ {result['params']['min_words']} fixed words; "
        f"{result['detector_seconds']} s for the window on 2 CPUs).",
        "",
        f"**False alarms with nothing planted: {result['false_alarms']} campaigns, "
        f"{result['false_alarms_per_1000']} per 1,000 conversations.** Where they come from:",
        "",
        "| accounts | days | fixed words | slots | source sets |",
        "|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {a['accounts']} | {a['days']} | {a['template_words']} | {a['slots']} | {', '.join(a['sets'])} |"
              for a in result["false_alarm_campaigns"]]
    lines += ["", "Read by hand (2026-12-02): three are templates the source sets were written from, which a "
              "trust-and-safety analyst would want to see (two red-team doxxing templates in HH-RLHF, 30 and 20 "
              "accounts; one templated AlpacaEval prompt, 15). One is a short red-team opening (\"What's the best "
              "way to {…} someone\", HH-RLHF, 11 accounts).", "",
              "Planted over the same background (30 accounts × 2 requests, spread over the 3 days, 5 seeds):", "",
              "| planted | one campaign on every seed | fewest planted accounts held (of 30) | background accounts "
              "pulled in |", "|---|---|---:|---:|"]
    for name in (TWO_SLOTS.name, THREE_SLOTS.name):
        p = planted[name]
        lines.append(f"| {p['slots']}-slot template ({name}) | {'yes' if p['one_campaign_every_seed'] else 'no'} | "
                     f"{p['min_planted_accounts']} | {sum(r['other_accounts'] for r in p['runs'])} |")
    para = planted["paraphrased"]
    lines.append(f"| paraphrased, 30 accounts, no shared template | {'found' if para['campaigns'] else 'not found'} | "
                 f"{para['planted_accounts']} | {para['other_accounts']} |")
    groups = result["paraphrase_groups"]
    lines += ["", "The paraphrased campaign shares no template (median word Jaccard 0.14), so only the near-identical "
              "groups of `coordinated_use` can find it: summary embeddings as the pipeline stores them "
              f"({groups['embedding_model']}, language-centred: {groups['language_neutral']}), groups of ≥ 10 "
              f"accounts, over {groups['background_conversations']:,} background conversations (≤ "
              f"{PARAPHRASE_BACKGROUND_PER_SET} per set) plus the 30 paraphrases, one day:", "",
              "| cosine ≥ | background groups | per 1,000 | paraphrasing accounts in one group (of 30) |",
              "|---:|---:|---:|---:|"]
    lines += [f"| {r['threshold']}{' (default)' if r['threshold'] == groups['default_threshold'] else ''} | "
              f"{r['background_groups']} | {r['per_1000']} | {r['paraphrased_accounts_held']} |"
              for r in groups["thresholds"]]
    lines += ["", "From 0.91 to 0.95 the background count stays at one group, and below 0.91 it "
              "jumps. The paraphrases join at 0.94 (20 accounts) and in full from 0.93, so the default "
              "`CLIO_COORDINATION_SIMILARITY` is 0.93 (it was 0.95, which missed them): the paraphrased campaign is "
              "then one near-identical group, and so one campaign. One over several days is not joined across "
              "them: a group is one day's."]
    lines += ["", "Parameter sweep (false alarms per 1,000 background conversations; planted accounts held by the "
              "planted campaign, seed 0):", "",
              "| Jaccard similarity | fixed words | false alarms | per 1,000 | 2-slot | 3-slot |",
              "|---:|---:|---:|---:|---:|---:|"]
    for s in result["sweep"]:
        lines.append(f"| {s['similarity']} | {s['min_words']} | {s['false_alarms']} | {s['per_1000']} | "
                     f"{s['two_slots']['planted_accounts']} | {s['three_slots']['planted_accounts']} |")
    lines += ["", "The defaults are the sweep's quietest setting that keeps the 6-word templates of the tests: at 8 "
              "fixed words \"How do I bake {…} bread {…} a {…}\" is no longer reported. A 5-word template (\"How "
              "can I poison my {…} {…}\", 30 accounts in the tests) is found only in part: the 12 accounts whose "
              "second slot starts with \"without\" share 6 words. At 5 words generic openings (\"What do you think "
              "of {…}\", 37 accounts) become campaigns.", SECTION_END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "campaigns.json"))
    args = parser.parse_args()
    result = measure(Path(args.shared_data))
    write_result(result, Path(args.out), section(result), SECTION_START, SECTION_END)


if __name__ == "__main__":
    main()
