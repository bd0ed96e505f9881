"""Predict the tokens and dollars a `claude` run will cost, before running it.

Input tokens are counted from the real prompts the backend would send (system + rendered user message,
~4 characters per token); output tokens use typical answer sizes per task. Cluster counts follow the k
rule and the hierarchy's level sizes, so the estimate grows with n the way a run does.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from clio_dagster.core.clustering import choose_k
from clio_dagster.core.custom_facets import CustomFacet
from clio_dagster.core.records import Conversation
from clio_dagster.core.transcript import estimate_tokens, format_transcript
from clio_dagster.llm.pricing import ModelPrice, TokenUsage, price_for
from clio_dagster.llm.templates import load_template

# Typical answer sizes (tokens) of each structured output.
OUTPUT_TOKENS = {"extract_facets": 110, "screen": 15, "name_cluster": 90, "propose_parents": 250,
                 "dedupe_names": 600, "assign_parent": 40, "rename_parent": 90, "audit_privacy": 70}
SUMMARY_TOKENS = 40  # a two-sentence request summary
# Typical answer sizes (tokens) of one custom facet's field, by type (the field name and its value).
CUSTOM_FACET_OUTPUT_TOKENS = {"categorical": 8, "numeric": 6, "open": 45}
CLUSTER_TEXT_TOKENS = 55  # "name: description" of a cluster


@dataclass(frozen=True)
class StageEstimate:
    stage: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_interactive: float
    cost_batch: float


def _stage(stage: str, task: str, model: str, calls: int, user_tokens: int, price: ModelPrice,
           extra_system: int = 0, extra_output: int = 0) -> StageEstimate:
    system = estimate_tokens(load_template(task).system) + extra_system
    # The fixed instructions are written to the prompt cache once and read on every later call.
    usage = TokenUsage(
        input_tokens=user_tokens,
        output_tokens=calls * (OUTPUT_TOKENS[task] + extra_output),
        cache_write_tokens=system if calls else 0,
        cache_read_tokens=system * max(0, calls - 1),
    )
    return StageEstimate(
        stage=stage, model=model, calls=calls, input_tokens=user_tokens + system * calls,
        output_tokens=usage.output_tokens, cached_input_tokens=usage.cache_read_tokens,
        cost_interactive=usage.cost(price), cost_batch=usage.cost(price, batch=True),
    )


def estimate_run(
    days: Sequence[Sequence[Conversation]],
    models: dict[str, str],
    prices: dict[str, ModelPrice],
    conversation_token_budget: int,
    target_cluster_size: int,
    k_min: int,
    k_max: int,
    levels: int = 3,
    top_clusters: int = 20,
    naming_sample_size: int = 50,
    screen_question: str | None = None,
    custom_facets: Sequence[CustomFacet] = (),
    llm_tasks: Collection[str] | None = None,
) -> list[StageEstimate]:
    """One estimate per stage, summed over the days (each day is clustered and named on its own). Custom facets
    join the facet call: their questions lengthen its (cached) instructions and tool schema, and each adds a field
    to every answer. Stages whose task is not in `llm_tasks` (None: every task) run offline: listed with no calls
    and no cost."""
    totals: dict[str, list[int]] = {}
    model_of: dict[str, str] = {}

    def add(stage: str, task: str, calls: int, user_tokens: int) -> None:
        entry = totals.setdefault(stage, [0, 0])
        entry[0] += calls
        entry[1] += user_tokens
        model_of[stage] = task

    facets_user = load_template("extract_facets").render_user(conversation="", truncation_note="")
    for conversations in days:
        n = len(conversations)
        transcripts = [estimate_tokens(format_transcript(c, conversation_token_budget).text) for c in conversations]
        if screen_question:
            add("screen", "screen", n, sum(transcripts) + n * estimate_tokens(screen_question))
        add("facets", "extract_facets", n, sum(transcripts) + n * estimate_tokens(facets_user))
        k = choose_k(n, target_cluster_size, k_min, k_max)
        per_cluster = min(naming_sample_size, max(1, n // max(k, 1)))
        add("cluster naming", "name_cluster", k, k * (per_cluster + naming_sample_size) * SUMMARY_TOKENS)
        # Hierarchy: level sizes shrink geometrically from k to the top level.
        sizes = [k]
        if levels > 1 and k > top_clusters:
            ratio = (top_clusters / k) ** (1 / (levels - 1))
            sizes += [max(1, round(k * ratio**level)) for level in range(1, levels)]
        for child, parent in zip(sizes, sizes[1:]):
            hoods = max(1, math.ceil(child / 40))
            add("hierarchy: propose_parents", "propose_parents", hoods, child * CLUSTER_TEXT_TOKENS + hoods * 5 * CLUSTER_TEXT_TOKENS)
            add("hierarchy: dedupe_names", "dedupe_names", 1, hoods * parent * 15)
            add("hierarchy: assign_parent", "assign_parent", child, child * (CLUSTER_TEXT_TOKENS + parent * 15))
            add("hierarchy: rename_parent", "rename_parent", parent, child * CLUSTER_TEXT_TOKENS)
        add("privacy audit", "audit_privacy", sum(sizes), sum(sizes) * CLUSTER_TEXT_TOKENS)

    # Each question is in the system note and again in the tool schema's field description.
    custom_system = sum(2 * estimate_tokens(f.instruction()) + 10 for f in custom_facets)
    custom_output = sum(CUSTOM_FACET_OUTPUT_TOKENS[f.type] for f in custom_facets)
    estimates = []
    for stage, (calls, user_tokens) in totals.items():
        task = model_of[stage]
        if llm_tasks is not None and task not in llm_tasks:
            estimates.append(StageEstimate(stage, "offline", 0, 0, 0, 0, 0.0, 0.0))
            continue
        model = models[task]
        extra = (custom_system, custom_output) if task == "extract_facets" else (0, 0)
        estimates.append(_stage(stage, task, model, calls, user_tokens, price_for(model, prices), *extra))
    return estimates
