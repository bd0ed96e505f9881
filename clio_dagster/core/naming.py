"""Offline (heuristic) cluster names: a taxonomy leaf refined by what the users actually wrote.

1. Each base cluster is matched to the taxonomy's leaves contrastively: cosine similarity of its centroid to
   every leaf's vector, each leaf's similarities taken relative to its mean over the day's clusters (so a
   leaf close to everything does not collect every cluster), that correction shrunk on days with few
   clusters, where a mean over them says little. A leaf of the trust-and-safety branch needs the concern
   facet's support, and a cluster it rates mostly concerning gets one of those leaves (`concern_gate`).
2. Its distinctive phrases (`core.keyphrases`): 1–3-word phrases in any language, each written by at least
   `min_unique_users` distinct users of the partition, ranked by relevance and diversity.
3. The name: the leaf's name, refined by up to two phrases in Latin letters that it does not already say
   ("Debug and fix Python code (pandas, dataframe)"), never everyday words ("given", "long": wordfreq);
   phrases in other scripts go to the description. The description is the leaf's own sentence (what kind of
   request this is, in plain English) followed by "Users wrote:" and the phrases (up to three in other scripts).
   Where no leaf stands out (its similarity less than `min_margin` above the median leaf's: a margin, not a
   raw cosine, because text in another language than the taxonomy's English sits uniformly lower), the name
   comes from the phrases alone if an English reader can read them ("Requests about …"), else from the
   nearest leaf, said to be a weak match, so a new topic (a launch, an event) still shows by its own words.
   A generic name only when neither exists.

Privacy: taxonomy words are public vocabulary; every user phrase passed the user floor and never holds a
proper noun (a word only ever written capitalised mid-sentence) or a scrubber placeholder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from clio_dagster.core.glossary import GLOSS_NOTE, Glosser
from clio_dagster.core.keyphrases import Phrase, cluster_phrases
from clio_dagster.core.taxonomy import TaxonomyNode

NAMING_METHOD = (
    "heuristic: taxonomy leaf nearest the cluster centroid (contrastive) and its description, refined by phrases "
    f"written by >= min_unique_users users; {GLOSS_NOTE}"
)
NO_TERMS_NAME = "Requests with no term shared by enough users"
# Names that tell a reader nothing about the cluster (the offline fallbacks and the auditor's last resort).
GENERIC_NAMES = frozenset({NO_TERMS_NAME, "Requests with no shared terms", "All requests"})
GENERIC_PREFIXES = ("Other requests within",)
# How many clusters make a day's mean similarity to a leaf worth subtracting in full.
CONTRAST_HALF_WEIGHT_CLUSTERS = 10
# A concerning leaf ("Plan financial fraud and forged documents") on a benign cluster is a false alarm for a
# trust-and-safety team, and wording alone does not tell them apart: banking questions lead the best benign leaf
# by as much as real fraud requests do (at most 0.02 either way). The concern facet does
# (bench/calibrate_concern_gate.py): each of the 14 HH-RLHF red-team clusters a concerning leaf fits best has
# >= 20% of its conversations rated >= 3; the benign ones it fits best (OpenAssistant; CLINC150, HWU64) <= 15%.
CONCERN_LEAF_MIN_SHARE = 0.2  # of the cluster's scored conversations rated >= CONCERN_LEAF_MIN_RATING
CONCERN_LEAF_MIN_RATING = 3  # "moderately concerning" on Clio's 1-5 scale
# Where the concern facet scored under half the cluster (its lexicon is English), a concerning leaf must instead
# lead the best other leaf by this contrastive score, above the largest lead seen on a benign cluster (0.022).
CONCERN_LEAF_UNSCORED_LEAD = 0.03
CONCERN_LEAF_MIN_SCORED = 0.5
# And the mirror: a cluster that the concern facet rates mostly concerning is named within the concerning branch,
# however benign its wording ("I want to ..." requests to rob, steal and hurt sat under "Find purpose and life
# direction"). No cluster of the benign calibration sets comes near this share (at most 0.15).
CONCERN_LEAF_REQUIRED_SHARE = 0.5
NAME_PHRASES = 2
DESCRIPTION_PHRASES = 6
DESCRIPTION_FOREIGN_PHRASES = 3  # of those, in another script than Latin, after the leaf's English description
# Every phrase shown passed the user floor (min_unique_users); the naming method says so once.
USERS_WROTE = "Users wrote:"


def is_generic_name(name: str | None) -> bool:
    return not name or name in GENERIC_NAMES or name.startswith(GENERIC_PREFIXES)


def generic_shares(nodes: Sequence[dict]) -> dict[str, float]:
    """Per level ("0", "1", …), the share of conversations in `nodes` (dicts with level, name, conversations)
    that sit under a generic name."""
    totals: dict[int, int] = {}
    generic: dict[int, int] = {}
    for node in nodes:
        level = int(node["level"])
        totals[level] = totals.get(level, 0) + node["conversations"]
        generic[level] = generic.get(level, 0) + (node["conversations"] if is_generic_name(node["name"]) else 0)
    return {str(level): round(generic[level] / totals[level], 4) if totals[level] else 0.0 for level in sorted(totals)}


@dataclass(frozen=True)
class ClusterName:
    cluster_id: int
    name: str
    description: str
    terms: tuple[str, ...]
    # The nearest taxonomy leaf (where the offline hierarchy places the cluster) and whether the name uses it.
    taxonomy_id: str | None = None
    taxonomy_similarity: float | None = None
    taxonomy_margin: float | None = None
    taxonomy_matched: bool = False


@dataclass(frozen=True)
class LeafMatch:
    leaf: TaxonomyNode
    similarity: float  # cosine of the centroid and the leaf vector
    matched: bool  # the leaf stands out by the threshold's margin: the name is the leaf's
    margin: float = 0.0  # similarity minus the median similarity over all leaves


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def contrastive_scores(centroids: np.ndarray, leaf_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw cosine similarities, contrastive scores), clusters × leaves. The score subtracts from each leaf's
    similarities its excess mean over the day's clusters, weighted k / (k + 10) for k clusters."""
    similarity = _unit(centroids) @ _unit(leaf_vectors).T
    k = len(similarity)
    if k < 2:
        return similarity, similarity
    weight = k / (k + CONTRAST_HALF_WEIGHT_CLUSTERS)
    excess = similarity.mean(axis=0, keepdims=True) - similarity.mean()
    return similarity, similarity - weight * excess


@dataclass(frozen=True)
class ConcernSupport:
    """What the concern facet says of one cluster: the share of its conversations it scored, and of those the
    share rated at least CONCERN_LEAF_MIN_RATING."""

    scored: float
    concerning: float


def concern_support(labels: Sequence[int], ratings: Sequence[int | None]) -> dict[int, ConcernSupport]:
    """Per cluster label, the concern facet's support (`ratings`: each conversation's 1-5 rating, None where
    the facet could not score it)."""
    counts: dict[int, list[int]] = {}
    for label, rating in zip(labels, ratings):
        total_scored_high = counts.setdefault(int(label), [0, 0, 0])
        total_scored_high[0] += 1
        if rating is not None:
            total_scored_high[1] += 1
            total_scored_high[2] += int(rating >= CONCERN_LEAF_MIN_RATING)
    return {label: ConcernSupport(scored / total, high / scored if scored else 0.0)
            for label, (total, scored, high) in counts.items()}


def concern_gate(score: np.ndarray, concerning_leaves: np.ndarray, support: Sequence[ConcernSupport | None]) -> np.ndarray:
    """`score` (clusters × leaves) with the concerning leaves ruled out (-inf) for every cluster whose concern
    facet does not support them: under CONCERN_LEAF_MIN_SHARE of its scored conversations rated concerning; or,
    where it scored under CONCERN_LEAF_MIN_SCORED of them, no concerning leaf leading the best other leaf by
    CONCERN_LEAF_UNSCORED_LEAD. Without support for a cluster (None) its concerning leaves are ruled out. The
    other leaves are ruled out where at least CONCERN_LEAF_REQUIRED_SHARE of the scored conversations are
    rated concerning."""
    if not concerning_leaves.any() or concerning_leaves.all():
        return score
    gated = score.copy()
    lead = score[:, concerning_leaves].max(axis=1) - score[:, ~concerning_leaves].max(axis=1)
    for row, found in enumerate(support):
        if found is None:
            allowed = False
        elif found.scored >= CONCERN_LEAF_MIN_SCORED:
            allowed = found.concerning >= CONCERN_LEAF_MIN_SHARE
            if found.concerning >= CONCERN_LEAF_REQUIRED_SHARE:
                gated[row, ~concerning_leaves] = -np.inf
        else:
            allowed = lead[row] >= CONCERN_LEAF_UNSCORED_LEAD
        if not allowed:
            gated[row, concerning_leaves] = -np.inf
    return gated


def match_leaves(
    centroids: np.ndarray, leaf_vectors: np.ndarray, leaves: Sequence[TaxonomyNode], min_margin: float,
    support: Sequence[ConcernSupport | None] | None = None,
) -> list[LeafMatch]:
    """The best leaf of each cluster (row of `centroids`) by contrastive score; matched when its cosine
    stands at least `min_margin` above the cluster's median cosine over all leaves (`leaf_margins`).
    `support`: each row's concern support (`concern_support`), which concerning leaves need (`concern_gate`);
    without it they are never chosen."""
    if len(centroids) == 0:
        return []
    similarity, score = contrastive_scores(centroids, leaf_vectors)
    concerning = np.array([leaf.concerning for leaf in leaves], dtype=bool)
    score = concern_gate(score, concerning, support if support is not None else [None] * len(score))
    best = score.argmax(axis=1)
    margins = leaf_margins(similarity, best)
    return [
        LeafMatch(leaves[int(j)], float(similarity[i, j]), bool(margins[i] >= min_margin),
                  float(margins[i]))
        for i, j in enumerate(best)
    ]


def leaf_margins(similarity: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Per cluster, the chosen leaf's cosine minus the median cosine over all leaves."""
    return similarity[np.arange(len(best)), best] - np.median(similarity, axis=1)


def _said_by(leaf: TaxonomyNode, phrase: str) -> bool:
    words = set(f"{leaf.name} {leaf.description}".lower().replace(",", " ").split())
    return all(part in words for part in phrase.split(" "))


def _listed(phrases: Sequence[str], glosses: Mapping[str, str]) -> str:
    """The phrases, each glossed in English where it has one ("перефразируй (≈ paraphrase)"); what "≈" means
    is said once per cluster in its naming method (`GLOSS_NOTE`), not in every description."""
    return ", ".join(f"{p} (≈ {glosses[p]})" if p in glosses else p for p in phrases)


def _named_by_leaf(match: LeafMatch | None, phrases: Sequence[Phrase]) -> bool:
    """Whether the leaf names the cluster: it stands out, or it is the weak match taken when no phrase is one an
    English reader can read (otherwise those phrases name it, "Requests about …")."""
    if match is None:
        return False
    return match.matched or not any(p.latin and not p.common for p in phrases)


def compose_name(cluster_id: int, match: LeafMatch | None, phrases: Sequence[Phrase], min_users: int,
                 glosses: Mapping[str, str] | None = None) -> ClusterName:
    """Name and description from the matched leaf (if any) and the cluster's phrases (best first); `glosses`:
    English glosses of phrases in other scripts (`core/glossary.py`), shown beside them in the description."""
    glosses = glosses or {}
    shown = [p.text for p in phrases[:DESCRIPTION_PHRASES]]
    leaf_fields = ({"taxonomy_id": match.leaf.id, "taxonomy_similarity": round(match.similarity, 4),
                    "taxonomy_margin": round(match.margin, 4), "taxonomy_matched": match.matched}
                   if match is not None else {})
    readable = [p for p in phrases if p.latin and not p.common]
    # Names are English (as Clio writes them): phrases an English reader cannot read name no cluster, so the
    # nearest leaf does, said to be a weak match, when it is all there is.
    if match is not None and _named_by_leaf(match, phrases):
        weak = not match.matched
        refinements = [p.text for p in readable if not _said_by(match.leaf, p.text)][:NAME_PHRASES]
        name = match.leaf.name + (f" ({', '.join(refinements)})" if refinements else "")
        caveat = " The closest topic of the taxonomy, a weak match." if weak else ""
        leaf_fields["taxonomy_matched"] = True
        # What kind of request this is, in the taxonomy's plain words, then what the users wrote. Where the leaf
        # sits (topic, area) is left to the hierarchy above it, which shows it; and phrases stay unglossed here,
        # as the leaf already says in English what they are about (a wrong gloss, "一篇" as "arxiv", misleads).
        # Judged by the names (bench/eval_names.py), this reads better than the phrases with their glosses and
        # the topic: Chinese task types 26% -> 34%, Russian 30% -> 36%, the other sets within 3 points.
        in_words = [p.text for p in phrases[:DESCRIPTION_PHRASES] if p.latin]
        in_words += [p.text for p in phrases[:DESCRIPTION_PHRASES] if not p.latin][:DESCRIPTION_FOREIGN_PHRASES]
        wrote = f" {USERS_WROTE} {', '.join(in_words)}." if in_words else ""
        description = f"{match.leaf.description}{wrote}{caveat}"
        return ClusterName(cluster_id, name, description, tuple(shown), **leaf_fields)
    if phrases:
        # Phrases in Latin letters first, so an English reader gets words they can read where there are any;
        # an everyday word ("write") only where nothing more telling is left ("Requests about python").
        ordered = sorted(phrases[:4], key=lambda p: (not p.latin, p.common))
        lead = ([p for p in ordered if not p.common] or ordered)[:NAME_PHRASES]
        joined = " and ".join(p.text for p in lead)
        listed = shown or [p.text for p in lead]
        description = (f"No topic of the taxonomy is close to these requests. Distinctive phrases, each written by "
                       f"at least {min_users} users: {_listed(listed, glosses)}.")
        return ClusterName(cluster_id, f"Requests about {joined}", description, tuple(listed), **leaf_fields)
    return ClusterName(
        cluster_id, NO_TERMS_NAME,
        "Heuristic (offline) label: no taxonomy topic is close to these requests, and no phrase of them is both "
        f"common in this cluster and written by at least {min_users} distinct users.",
        (), **leaf_fields,
    )


def name_clusters(
    labels: Sequence[int],
    summaries: Sequence[str],
    user_keys: Sequence[str],
    min_unique_users: int,
    matches: dict[int, LeafMatch] | None = None,
    languages: Sequence[str | None] | None = None,
    excluded_terms: frozenset[str] = frozenset(),
    excluded_by_cluster: dict[int, frozenset[str]] | None = None,
    gloss: Glosser | None = None,
) -> list[ClusterName]:
    """One heuristic name and description per cluster label, deterministic for the same input. `matches`:
    each cluster's best taxonomy leaf (`match_leaves`); without it names come from phrases alone.
    `excluded_terms` (and phrases holding them) are never used, nor `excluded_by_cluster[label]` in that
    cluster: how names the auditor rejected are regenerated. `gloss`: English glosses for the phrases shown
    that are not in Latin letters, asked once for all of them."""
    phrases = cluster_phrases(labels, summaries, user_keys, min_unique_users, languages=languages,
                              n_phrases=max(DESCRIPTION_PHRASES, 8), excluded=excluded_terms,
                              excluded_by_cluster=excluded_by_cluster)
    # Only descriptions made from the phrases alone gloss them (a leaf's description says it in English already).
    foreign = sorted({p.text for label, found in phrases.items() for p in found[:DESCRIPTION_PHRASES]
                      if not p.latin and not _named_by_leaf((matches or {}).get(label), found)})
    glosses = gloss(foreign) if gloss is not None and foreign else {}
    return [compose_name(label, (matches or {}).get(label), phrases.get(label, []), min_unique_users, glosses)
            for label in sorted(phrases)]
