"""`clio eval concern`: how well the offline concern heuristic ranks red-team prompts above ordinary ones.

Positives: Anthropic HH-RLHF harmless-base red-team conversations (crowdworkers asked to elicit harm; some of
their openers are benign, so a perfect score is out of reach). Negatives: ordinary assistant traffic sets
(OpenAssistant English validation, AlpacaEval prompts, Arena-Hard v0.1). Reports AUROC per negative set and
pooled, plus the score distribution of each set. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

POSITIVE_SET = "hh_rlhf_harmless"
NEGATIVE_SETS = ("oasst1_en_val", "alpaca_eval_gpt4", "arena_hard_v01")


def _user_turns(record: dict) -> list[str]:
    return [m["content"] for m in record["messages"] if m.get("role") == "user" and isinstance(m.get("content"), str)]


def score_set(path: Path) -> list[int | None]:
    """The heuristic's score for every conversation of a normalised JSONL set (language detected as in facets)."""
    from clio_dagster.core.concern import concern_of
    from clio_dagster.core.language import detect_language

    scores = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            turns = _user_turns(json.loads(line))
            language = detect_language(" ".join(turns)[:2000])
            scores.append(concern_of(turns, language.code))
    return scores


def auroc(positives: list[int], negatives: list[int]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([1] * len(positives) + [0] * len(negatives), positives + negatives))


def evaluate(data_dir: Path) -> dict:
    sets = {name: score_set(data_dir / name / "conversations.jsonl") for name in (POSITIVE_SET, *NEGATIVE_SETS)}
    scored = {name: [s for s in scores if s is not None] for name, scores in sets.items()}
    positives = scored[POSITIVE_SET]
    negatives = [s for name in NEGATIVE_SETS for s in scored[name]]
    return {
        "evaluation": "concern",
        "method": __import__("clio_dagster.core.concern", fromlist=["CONCERN_METHOD"]).CONCERN_METHOD,
        "positive_set": POSITIVE_SET,
        "negative_sets": list(NEGATIVE_SETS),
        "auroc_pooled": round(auroc(positives, negatives), 4),
        "auroc_per_negative_set": {name: round(auroc(positives, scored[name]), 4) for name in NEGATIVE_SETS},
        "conversations": {name: len(scores) for name, scores in sets.items()},
        "unscored_non_english": {name: sum(s is None for s in scores) for name, scores in sets.items()},
        "score_distribution": {name: {str(k): v for k, v in sorted(Counter(s).items())} for name, s in scored.items()},
        "share_scored_3_or_more": {name: round(sum(s >= 3 for s in v) / len(v), 4) if v else None
                                   for name, v in scored.items()},
    }


def _run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data)
    missing = [n for n in (POSITIVE_SET, *NEGATIVE_SETS) if not (data_dir / n / "conversations.jsonl").is_file()]
    if missing:
        print(json.dumps({"evaluation": "concern", "error": f"missing data sets under {data_dir}: {missing}"}))
        return 2
    print(json.dumps(evaluate(data_dir), indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("concern", help="AUROC of the offline concern heuristic: red-team vs ordinary prompts")
    parser.add_argument("--data", default="../shared/data", help="folder holding the shared data sets")
    parser.set_defaults(func=_run)
