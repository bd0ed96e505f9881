"""Tokens and dollars of the claude backend on the bundled sample, against Clio's cost table.

    .venv/bin/python bench/bench_llm_cost.py

Tokens are counted from the real prompts the backend would send (~4 characters per token: no Claude
tokenizer runs offline), so this is an estimate; `clio estimate --sample` prints the same per stage.
Clio's table (paper, App. B): 100k conversations, facets 1,300 input / 100 output tokens per conversation
per facet call; $48.81 in all with Claude 3 Haiku / 3.5 Sonnet prices.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SECTION_START = "<!-- bench_llm_cost:start -->"
SECTION_END = "<!-- bench_llm_cost:end -->"


def main() -> None:
    from bench.bench_pipeline import update_section
    from clio_dagster.cli import _conversations_by_day
    from clio_dagster.llm.estimate import estimate_run
    from clio_dagster.llm.pricing import ModelPrice, TokenUsage
    from clio_dagster.resources import build_resources
    from clio_dagster.settings import load_settings

    settings = load_settings(llm_backend="claude")
    by_day = _conversations_by_day(settings, [], use_sample=True)
    claude = build_resources(settings)["llm"].claude_settings()
    estimates = estimate_run(list(by_day.values()), claude.models, claude.prices, claude.conversation_token_budget,
                             settings.target_cluster_size, settings.k_min, settings.k_max)
    n = sum(len(v) for v in by_day.values())
    facets = next(e for e in estimates if e.stage == "facets")
    result = {
        "benchmark": "bench_llm_cost",
        "date": date.today().isoformat(),
        "conversations": n,
        "models": {"facets": claude.models["extract_facets"], "reasoning": claude.models["name_cluster"]},
        "prices_per_mtok": {k: v.model_dump() for k, v in claude.prices.items()},
        "facets_input_tokens_per_conversation": round(facets.input_tokens / n, 1),
        "facets_output_tokens_per_conversation": round(facets.output_tokens / n, 1),
        "facets_cached_input_share": round(facets.cached_input_tokens / facets.input_tokens, 3),
        "stages": [e.__dict__ for e in estimates],
        "cost_per_1000_interactive": round(1000 * sum(e.cost_interactive for e in estimates) / n, 4),
        "cost_per_1000_batch": round(1000 * sum(e.cost_batch for e in estimates) / n, 4),
        "clio_paper": {"facet_input_tokens": 1300, "facet_output_tokens": 100, "facets_cost_per_100k": 45.0,
                       "cost_per_1000": 0.4881},
    }
    # Our facet call at Clio's 2024 Claude 3 Haiku prices, for a like-for-like comparison with its table.
    haiku3 = ModelPrice(input=0.25, output=1.25)
    per_conversation = TokenUsage(
        input_tokens=(facets.input_tokens - facets.cached_input_tokens) // n,
        output_tokens=facets.output_tokens // n,
        cache_read_tokens=facets.cached_input_tokens // n,
    )
    result["facets_cost_per_100k_at_clio_prices"] = round(100_000 * per_conversation.cost(haiku3), 2)
    out = ROOT / "bench" / "results" / "llm_cost_sample.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rows = "\n".join(
        f"| {e.stage} | {e.model} | {e.calls} | {e.input_tokens:,} | {e.output_tokens:,} | ${e.cost_interactive:.4f} | ${e.cost_batch:.4f} |"
        for e in estimates
    )
    section = f"""{SECTION_START}
## Claude cost on the bundled sample ({result['date']}, estimate from the real prompts)

Command: `.venv/bin/python bench/bench_llm_cost.py` (same numbers per stage: `.venv/bin/clio estimate --sample`)

Facets per conversation: **{result['facets_input_tokens_per_conversation']:.0f} input / {result['facets_output_tokens_per_conversation']:.0f} output tokens for all four facets in ONE call**
({result['facets_cached_input_share']:.0%} of the input is the cached instruction prefix, billed at 0.1×), against Clio's
table of 1,300 input / 100 output tokens per conversation for facet extraction ($45 per 100k at Claude 3 Haiku
prices). At those same prices our facet call costs **${result['facets_cost_per_100k_at_clio_prices']:.2f} per 100k conversations**.

| stage | model | calls | input tokens | output tokens | interactive | batch |
|---|---|---:|---:|---:|---:|---:|
{rows}

Cost per 1,000 conversations: **${result['cost_per_1000_interactive']:.3f} interactive, ${result['cost_per_1000_batch']:.3f} with the
Message Batches API** (prices per million tokens: haiku $1 / $5, sonnet $3 / $15, configurable with
`CLIO_CLAUDE_PRICES`). Clio's table: $0.488 per 1,000 with 2024 prices (Claude 3 Haiku at $0.25 / $1.25,
Claude 3.5 Sonnet at $3 / $15).
{SECTION_END}"""
    update_section(section, SECTION_START, SECTION_END)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
