"""Diagnostic: other ways to choose a base cluster's taxonomy leaf, and to write its description, judged as
bench/eval_names.py judges the published names.

    PYTHONPATH=$PWD .venv/bin/python bench/diag_leaf_choice.py [--sets belle wildchat_ru ...] [--out F]

Each set runs the pipeline once (default settings, offline, as eval_names); then, on the same clusters:
- leaf choices, each judged by "leaf name. leaf description" (the users' phrases left out, so that only the choice
  differs): `centroid` (what the pipeline does: the contrastive score of the centroid), `member_votes` (each
  member's best leaf by the same score, the most frequent wins), `top3_votes` (3/2/1 points for each member's
  three best), `softmax_mean` (the mean of the members' softmaxes, temperature 0.02), `full_contrast` (the day's
  mean similarity removed with weight 1 instead of k / (k + 10)), `shift_to_leaves` (centroids moved so that
  their mean lands on the leaves' mean, then scored as the pipeline does); and what stands for a leaf, each
  scored as the pipeline scores (the pipeline: the mean of its "name. description" and its example requests):
  `definition_only` (its "name. description" alone), `examples_only` (its examples alone), `definition_half`
  (the two weighted equally), `nearest_text` (its text nearest the centroid, each text's similarity made
  contrastive as the pipeline makes a leaf's); `english_members_3` / `_5` (sets with language labels: a cluster
  with at least 3 / 5 English members, by the set's labels, matched by their mean instead of its centroid);
  `phrase_rerank` (the centroid's 3 best leaves re-ranked by the users' phrases of the published description,
  those in other scripts replaced by their English gloss, each phrase's word stems matched to the leaf's name and
  description and weighted by IDF over the leaves, added to the score with weight 0.002);
- descriptions, on the published clusters: `published` (name and description as published) and `latin_only`
  (the users' phrases in other scripts dropped from the description).
Accuracy counts every item, an item in an unpublished cluster as wrong. Writes JSON; BENCHMARKS.md cites it by
hand ("Tried and dropped").
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.eval_names import SEED, SETS, set_arguments  # noqa: E402

DAY = date(2024, 1, 1)
SOFTMAX_TEMPERATURE = 0.02
ENGLISH_MEMBER_MINIMUMS = (3, 5)
RERANK_LEAVES = 3
RERANK_WEIGHT = 0.002
STEM_LETTERS = 5
_WORD = re.compile(r"[a-z]+")
_USERS_WROTE = re.compile(r" Users wrote: (.*?)\.(?= |$)")
_NON_LATIN = re.compile(r"[^\x00-\u024f ]")


def latin_only(description: str) -> str:
    """The description with the users' phrases in other scripts left out of its "Users wrote: …" list."""
    found = _USERS_WROTE.search(description)
    if not found:
        return description
    kept = [p for p in found.group(1).split(", ") if not _NON_LATIN.search(p)]
    wrote = f" Users wrote: {', '.join(kept)}." if kept else ""
    return description[: found.start()] + wrote + description[found.end():]


def leaf_representations(text_vectors: np.ndarray, owners: np.ndarray) -> dict[str, np.ndarray]:
    """Leaf vectors other than the pipeline's (module doc), from each leaf text's unit vector and its leaf
    (`taxonomy.leaf_texts`: a leaf's "name. description" first, then its examples)."""
    from clio_dagster.core.naming import _unit

    n_leaves = int(owners.max()) + 1
    definition = np.stack([text_vectors[owners == j][0] for j in range(n_leaves)])
    examples = _unit(np.stack([text_vectors[owners == j][1:].mean(axis=0) if (owners == j).sum() > 1
                               else text_vectors[owners == j][0] for j in range(n_leaves)]))
    return {"definition_only": definition, "examples_only": examples,
            "definition_half": _unit(definition + examples)}


def nearest_text_choice(centroids: np.ndarray, text_vectors: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Each cluster's leaf whose best text has the highest contrastive score."""
    from clio_dagster.core.naming import contrastive_scores

    score = contrastive_scores(centroids, text_vectors)[1]
    per_leaf = np.full((len(centroids), int(owners.max()) + 1), -np.inf, dtype=np.float32)
    np.maximum.at(per_leaf.T, owners, score.T)
    return per_leaf.argmax(axis=1)


def leaf_choices(centroids: np.ndarray, members: np.ndarray, labels: np.ndarray,
                 leaf_vectors: np.ndarray, text_vectors: np.ndarray, text_owners: np.ndarray) -> dict[str, np.ndarray]:
    """Per variant (module doc), the chosen leaf index of each cluster (row of `centroids`); `text_vectors` and
    `text_owners`: every leaf text's unit vector and its leaf index."""
    from clio_dagster.core.naming import _unit, contrastive_scores

    similarity, score = contrastive_scores(centroids, leaf_vectors)
    offset = (similarity - score)[0]  # each leaf's subtracted excess, the same for every cluster
    member_score = _unit(members) @ _unit(leaf_vectors).T - offset
    k = len(centroids)
    rows = [labels == c for c in range(k)]
    best = member_score.argmax(axis=1)
    top3 = np.argsort(-member_score, axis=1)[:, :3]

    def top3_winner(mask: np.ndarray) -> int:
        points: Counter = Counter()
        for ranked in top3[mask]:
            for weight, leaf in zip((3, 2, 1), ranked):
                points[int(leaf)] += weight
        return points.most_common(1)[0][0]

    soft = np.exp((member_score - member_score.max(axis=1, keepdims=True)) / SOFTMAX_TEMPERATURE)
    soft /= soft.sum(axis=1, keepdims=True)
    units = _unit(centroids)
    shifted = units - units.mean(axis=0) + _unit(leaf_vectors).mean(axis=0)
    return {
        "centroid": score.argmax(axis=1),
        "member_votes": np.array([Counter(best[m].tolist()).most_common(1)[0][0] for m in rows]),
        "top3_votes": np.array([top3_winner(m) for m in rows]),
        "softmax_mean": np.array([soft[m].mean(axis=0).argmax() for m in rows]),
        "full_contrast": (similarity - (similarity.mean(axis=0, keepdims=True) - similarity.mean())).argmax(axis=1),
        "shift_to_leaves": contrastive_scores(shifted, leaf_vectors)[1].argmax(axis=1),
        **{name: contrastive_scores(centroids, vectors)[1].argmax(axis=1)
           for name, vectors in leaf_representations(text_vectors, text_owners).items()},
        "nearest_text": nearest_text_choice(centroids, text_vectors, text_owners),
    }


def english_member_choices(run: DefaultRun, labels: np.ndarray, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """`english_members_N` (module doc); none for a set without language labels."""
    from clio_dagster.core.naming import contrastive_scores

    languages = run.data.languages
    if languages is None:
        return {}
    english = np.array([languages[int(item.rsplit("-", 1)[1])].startswith("en") for _, item, _ in run.members])
    choices = {}
    for minimum in ENGLISH_MEMBER_MINIMUMS:
        centroids = run.centroids.copy()
        for cluster in range(len(centroids)):
            chosen = (labels == cluster) & english
            if chosen.sum() >= minimum:
                centroids[cluster] = vectors[chosen].mean(axis=0)
        choices[f"english_members_{minimum}"] = contrastive_scores(centroids, run.leaf_vectors)[1].argmax(axis=1)
    return choices


def _stems(text: str) -> set[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return {word[:STEM_LETTERS] for word in _WORD.findall(text.lower())
            if len(word) >= 3 and word not in ENGLISH_STOP_WORDS}


def phrase_rerank_choice(run: DefaultRun) -> np.ndarray:
    """`phrase_rerank` (module doc); a cluster whose description lists no phrases keeps the centroid's leaf."""
    from clio_dagster.core.glossary import GLOSS_MIN_SIMILARITY, gloss_phrases, glossary_words
    from clio_dagster.core.naming import _unit, contrastive_scores
    from clio_dagster.core.taxonomy_vectors import taxonomy_vectors

    leaves = run.taxonomy.leaves
    leaf_stems = [_stems(f"{leaf.name} {leaf.description}") for leaf in leaves]
    frequency = Counter(stem for stems in leaf_stems for stem in stems)
    idf = {stem: math.log(len(leaves) / count) for stem, count in frequency.items()}
    model = embedder(run.embedding_model)
    words = glossary_words(run.taxonomy.vocabulary)
    word_vectors = taxonomy_vectors("vocabulary", run.taxonomy, model.encode, run.embedding_model)
    min_similarity = GLOSS_MIN_SIMILARITY.get(run.embedding_model)
    score = contrastive_scores(run.centroids, run.leaf_vectors)[1]
    best = score.argmax(axis=1)
    for cluster, (_, description) in sorted(run.published.items()):
        found = _USERS_WROTE.search(description)
        if not found:
            continue
        phrases = found.group(1).split(", ")
        foreign = [p for p in phrases if _NON_LATIN.search(p)]
        glosses = (gloss_phrases(foreign, _unit(model.encode(foreign)), words, word_vectors, min_similarity)
                   if foreign and min_similarity is not None else {})
        bonus = np.zeros(len(leaves))
        for phrase in phrases:
            for stem in _stems(glosses.get(phrase, phrase)):
                bonus += [idf[stem] if stem in stems else 0.0 for stems in leaf_stems]
        top = np.argsort(-score[cluster])[:RERANK_LEAVES]
        best[cluster] = top[np.argmax(score[cluster, top] + RERANK_WEIGHT * bonus[top])]
    return best


@dataclass
class DefaultRun:
    """One labelled set through the pipeline with the default settings, and what the diagnostics read of it."""

    data: Any  # LabelledSet
    judge: Any  # the judge embedder
    published_accuracy: float
    centroids: np.ndarray  # base clusters' centroids, by cluster id
    members: list[tuple[int, str, list[float]]]  # (cluster id, item id, summary embedding), by cluster and item
    published: dict[int, tuple[str, str]]  # published base cluster id → (name, description)
    taxonomy: Any
    leaf_vectors: np.ndarray
    embedding_model: str  # the pipeline's
    anchors: list[str]
    owners: list[int]
    category_of: dict[str, str]  # item id → its category

    def judged(self, texts: list[str]) -> list[int]:
        """The category index the judge gives each text."""
        from clio_dagster.evaluation.names import judge_clusters

        return judge_clusters(texts, self.anchors, self.owners, self.judge)


def run_default(spec, shared: Path, home: Path) -> DefaultRun:
    """Runs the pipeline on `spec`'s set into `home` as bench/eval_names.py does and reads its outputs back."""
    import duckdb

    from clio_dagster.core.taxonomy import load_taxonomy
    from clio_dagster.core.taxonomy_vectors import taxonomy_vectors
    from clio_dagster.evaluation.categories import category_anchors
    from clio_dagster.evaluation.names import DEFAULT_JUDGE_MODEL, item_id, reconstruct_by_names
    from clio_dagster.evaluation.reconstruct import load_labelled_set
    from clio_dagster.settings import load_settings

    settings = load_settings(llm_backend="offline", seed=SEED)
    judge = embedder(DEFAULT_JUDGE_MODEL)
    data = load_labelled_set(shared / spec.run.folder, label=spec.run.label, top=spec.run.top,
                             exclude=spec.run.exclude, limit=spec.run.limit, seed=SEED)
    published_accuracy = reconstruct_by_names(data, settings, judge, DEFAULT_JUDGE_MODEL, keep_home=home)["accuracy"]
    with duckdb.connect(str(settings.model_copy(update={"home": home}).private_db), read_only=True) as con:
        centroids = np.array([r[0] for r in con.execute(
            "SELECT centroid FROM base_clusters WHERE partition_date = ? ORDER BY cluster_id", [DAY]).fetchall()],
            dtype=np.float32)
        members = con.execute(
            "SELECT m.cluster_id, m.conversation_id, e.embedding FROM base_cluster_members AS m "
            "JOIN summary_embeddings AS e USING (partition_date, conversation_id) WHERE m.partition_date = ? "
            "ORDER BY m.cluster_id, m.conversation_id", [DAY]).fetchall()
    with duckdb.connect(str(settings.model_copy(update={"home": home}).public_db), read_only=True) as con:
        published = {int(cid[1:]): (name, description) for cid, name, description in con.execute(
            "SELECT cluster_id, name, description FROM published_clusters WHERE partition_date = ? AND level = 0 "
            "ORDER BY cluster_id", [DAY]).fetchall()}
    taxonomy = load_taxonomy()
    anchors, owners = category_anchors(data.category_names, data.taxonomy)
    return DefaultRun(data, judge, published_accuracy, centroids, members, published, taxonomy,
                      taxonomy_vectors("leaves", taxonomy, None, settings.embedding_model), settings.embedding_model,
                      anchors, owners, {item_id(i): c for i, c in enumerate(data.categories)})


@lru_cache(maxsize=2)
def embedder(model: str):
    """One loaded model per process, whatever number of sets runs."""
    from clio_dagster.core.embedding import SentenceEmbedder

    return SentenceEmbedder(model)


@lru_cache(maxsize=1)
def leaf_text_vectors(model: str) -> tuple[np.ndarray, np.ndarray]:
    """Every text of the shipped taxonomy's leaves (`taxonomy.leaf_texts`) as a unit vector by `model`, and the
    leaf index of each; the same for every set, so embedded once."""
    from clio_dagster.core.naming import _unit
    from clio_dagster.core.taxonomy import leaf_texts, load_taxonomy

    texts, owners = leaf_texts(load_taxonomy())
    return _unit(np.asarray(embedder(model).encode(texts), dtype=np.float32)), np.asarray(owners)


def diagnose(spec, shared: Path, home: Path) -> dict:
    run = run_default(spec, shared, home)
    data, members, published, taxonomy = run.data, run.members, run.published, run.taxonomy
    labels = np.array([m[0] for m in members])
    vectors = np.array([m[2] for m in members], dtype=np.float32)
    choices = leaf_choices(run.centroids, vectors, labels, run.leaf_vectors, *leaf_text_vectors(run.embedding_model))
    choices.update(english_member_choices(run, labels, vectors))
    choices["phrase_rerank"] = phrase_rerank_choice(run)
    ids = sorted(published)

    def accuracy(texts: list[str]) -> float:
        chosen = dict(zip(ids, run.judged(texts)))
        right = sum(1 for cluster, conversation, _ in members
                    if cluster in chosen and data.category_names[chosen[cluster]] == run.category_of[conversation])
        return round(right / len(data.texts), 4)

    leaves = taxonomy.leaves
    return {
        "key": spec.key, "title": spec.title, "published_accuracy": run.published_accuracy,
        "leaf_choice": {name: {"accuracy": accuracy([f"{leaves[c[i]].name}. {leaves[c[i]].description}" for i in ids]),
                               "same_leaf_as_centroid": round(float(np.mean([c[i] == choices["centroid"][i]
                                                                             for i in ids])), 2)}
                        for name, c in choices.items()},
        "description": {"published": accuracy([f"{published[i][0]}. {published[i][1]}" for i in ids]),
                        "latin_only": accuracy([f"{published[i][0]}. {latin_only(published[i][1])}" for i in ids])},
    }


def diagnose_sets(doc: str, benchmark: str, diagnose_one: Callable[[Any, Path, Path], dict]) -> None:
    """A diagnostic's main: `diagnose_one(spec, shared data, fresh home)` for each set chosen on the command line
    (`set_arguments`), each result printed, all written as JSON to --out (bench/results/<benchmark>.json)."""
    args = set_arguments(doc, ROOT / "bench" / "results" / f"{benchmark}.json")
    runs = []
    for spec in SETS:
        if args.sets and spec.key not in args.sets:
            continue
        with tempfile.TemporaryDirectory(prefix=f"clio-{benchmark}-") as home:
            runs.append(diagnose_one(spec, args.shared_data, Path(home)))
        print(json.dumps(runs[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": f"diag_{benchmark}", "seed": SEED, "runs": runs}, indent=2) + "\n",
                        encoding="utf-8")


def main() -> None:
    diagnose_sets(__doc__, "leaf_choice", diagnose)


if __name__ == "__main__":
    main()
