"""The offline backend: no network, deterministic, heuristic (and labelled so wherever it shows)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clio_dagster.core.concern import CONCERN_METHOD, concern_of
from clio_dagster.core.custom_facets import CustomFacet, offline_refusals, rule_answer
from clio_dagster.core.glossary import GLOSS_MIN_SIMILARITY, Glosser, gloss_phrases, glossary_words
from clio_dagster.core.hierarchy import ParentBuilder, TaxonomyParentBuilder
from clio_dagster.core.language import detect_language
from clio_dagster.core.naming import (
    NAMING_METHOD,
    ClusterName,
    ConcernSupport,
    LeafMatch,
    concern_support,
    match_leaves,
    name_clusters,
)
from clio_dagster.core.taxonomy import Taxonomy, load_taxonomy, public_words
from clio_dagster.core.taxonomy_vectors import taxonomy_vectors
from clio_dagster.core.records import Conversation
from clio_dagster.core.summarize import extractive_request_summary
from clio_dagster.llm.auditing import RuleAuditor
from clio_dagster.llm.base import FacetResult, LLMBackend, LLMRequired, NamingInput, PrivacyAuditor, Regeneration
from clio_dagster.llm.regeneration import regenerate_offline

FACETS_METHOD = (
    "heuristic: extractive request summary, PII scrubbed; language by py3langid; no task model; "
    f"concern by {CONCERN_METHOD.removeprefix('heuristic: ')}"
)


class OfflineBackend(LLMBackend):
    name = "offline"
    heuristic = True
    deterministic = True
    naming_method = NAMING_METHOD

    def __init__(self, summary_max_chars: int = 300, taxonomy: str | None = None, taxonomy_min_margin: float = 0.5,
                 custom_facets: tuple[CustomFacet, ...] = ()):
        refusals = offline_refusals(custom_facets)
        if refusals:
            raise LLMRequired("; ".join(refusals) + ".")
        self.summary_max_chars = summary_max_chars
        self.taxonomy_path = taxonomy
        self.taxonomy_min_margin = taxonomy_min_margin
        # Rule-answered facets here; nearest-value ones need the summary embeddings (`assets.facets`).
        self.rule_facets = tuple(f for f in custom_facets if f.offline_method == "rules")

    @property
    def taxonomy(self) -> Taxonomy:
        return load_taxonomy(self.taxonomy_path)

    def extract_facets(self, conversations: Sequence[Conversation]) -> list[FacetResult]:
        results = []
        for conversation in conversations:
            summary = extractive_request_summary(conversation, max_chars=self.summary_max_chars)
            # Clio's language facet looks at the user's requests only.
            user_texts = conversation.user_texts()
            language = detect_language(" ".join(user_texts)[:2000])
            results.append(
                FacetResult(
                    request=summary.text,
                    task=None,
                    language=language.name,
                    language_code=language.code,
                    language_confidence=language.confidence,
                    concerning=concern_of(user_texts, language.code),
                    redactions=len(summary.redactions),
                    summary_truncated=summary.truncated,
                    method=FACETS_METHOD,
                    custom=self._rule_answers(" ".join(user_texts)),
                )
            )
            self._finished()
        return results

    def _rule_answers(self, user_text: str) -> dict[str, str]:
        answers = {facet.name: rule_answer(facet, user_text) for facet in self.rule_facets}
        return {name: value for name, value in answers.items() if value is not None}

    def leaf_matches(self, centroids: np.ndarray, embed, embedder_name: str | None = None,
                     support: dict[int, ConcernSupport] | None = None) -> dict[int, LeafMatch]:
        """Cluster id (row of `centroids`) → its best taxonomy leaf; a concerning leaf only where `support`
        (cluster id → what the concern facet says of it) backs it. The leaves' vectors come from package data
        for a bundled embedder and the default taxonomy (`taxonomy_vectors`), else are embedded once per
        process for (embedder, taxonomy digest): every partition of a run matches against the same vectors."""
        taxonomy = self.taxonomy
        vectors = taxonomy_vectors("leaves", taxonomy, embed, embedder_name)
        rows = [(support or {}).get(cluster_id) for cluster_id in range(len(centroids))]
        return dict(enumerate(match_leaves(centroids, vectors, taxonomy.leaves, self.taxonomy_min_margin,
                                           rows)))

    def glosser(self, embed, embedder_name: str | None) -> Glosser | None:
        """English glosses of phrases by the taxonomy's nearest word, where the embedder aligns languages."""
        min_similarity = GLOSS_MIN_SIMILARITY.get(embedder_name or "")
        if min_similarity is None:
            return None
        taxonomy = self.taxonomy
        words = glossary_words(taxonomy.vocabulary)

        def gloss(phrases: list[str]) -> dict[str, str]:
            word_vectors = taxonomy_vectors("vocabulary", taxonomy, embed, embedder_name)
            return gloss_phrases(phrases, np.asarray(embed(phrases), dtype=np.float32), words, word_vectors,
                                 min_similarity)

        return gloss

    def parent_builder(self) -> ParentBuilder:
        return TaxonomyParentBuilder(self.taxonomy)

    def privacy_auditor(self, rare_terms: frozenset[str]) -> PrivacyAuditor:
        # Taxonomy words are public vocabulary: never one user's wording.
        return RuleAuditor(rare_terms, safe_words=public_words(self.taxonomy))

    def regenerate(self, request: Regeneration, auditor: PrivacyAuditor) -> dict[int, tuple[str, str]]:
        return regenerate_offline(request, auditor.rules, self.taxonomy)

    def name_clusters(self, naming: NamingInput) -> list[ClusterName]:
        matches = None
        gloss = None
        if naming.centroids is not None and naming.embed is not None and len(naming.centroids):
            support = concern_support(naming.labels, naming.concern) if naming.concern is not None else None
            matches = self.leaf_matches(naming.centroids, naming.embed, naming.embedder_name, support)
            gloss = self.glosser(naming.embed, naming.embedder_name)
        return name_clusters(naming.labels, naming.summaries, naming.user_keys, naming.min_unique_users,
                             matches=matches, languages=naming.languages, gloss=gloss)


__all__ = ["OfflineBackend", "FACETS_METHOD", "NAMING_METHOD"]
