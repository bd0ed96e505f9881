"""`clio eval reconstruct`: Clio's supervised reconstruction test (App. C.2) on a labelled data set.

`--assign names` (the default, the headline figure) runs the pipeline itself to the public DB and judges the
published names a person reads: see `clio_dagster.evaluation.names`. `--assign centroid`, described below,
is a diagnostic of the clustering alone: it never reads a name.

In centroid mode each text becomes a single-turn conversation and goes through the pipeline's own steps: request summaries
(the backend's facets), summary embeddings (the configured embedder) and base clusters (seeded k-means,
k by the pipeline's rule, k = n / target_cluster_size: the test measures the pipeline as it runs, and
choosing k from the number of labels would hand it the answer's size; `--k labels` is there to compare
with clustering baselines). The level above the base clusters is then fixed to the data set's known
categories and every base cluster is assigned to one of them:

- claude: Clio's protocol. Each cluster is named from contrastive samples (`name_cluster`) and its
  "name: description" goes to the hierarchizer's assignment step (`assign_parent`) with the category
  names as the parent list.
- offline (heuristic): each category is represented by anchor texts, its name and, where the set has a
  two-level taxonomy (`--top` above `--label`), the names of its sub-categories; a cluster goes to the
  category of the anchor most similar to the cluster's centroid, each anchor's similarities taken
  relative to its mean over all clusters (hub correction). No item's label is used to assign.
  `--matching names` is the plain baseline: the nearest category name.

Every item inherits its cluster's category; the reconstruction is scored per item (accuracy, macro-F1,
per language), the base clusters against the fine labels (NMI, ARI, purity). One JSON object is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clio_dagster.evaluation.categories import category_anchors, readable
from clio_dagster.evaluation.metrics import accuracy, ari, macro_f1, nmi, per_group_accuracy, purity

LABELLED_FILE = "labeled.jsonl"
LANGUAGE_FIELD = "language"
EVAL_DIR = "eval"  # under CLIO_HOME: the claude path's LLM cache, apart from the pipeline's private DB
K_RULES = ("pipeline", "labels")
ASSIGN_MODES = ("names", "centroid")


@dataclass(frozen=True)
class LabelledSet:
    """Texts with their known category (the `--top` field, else `--label`) and fine label (`--label`)."""

    texts: list[str]
    categories: list[str]
    labels: list[str]
    languages: list[str] | None
    # category → its sub-categories, when the set has a two-level taxonomy (`--top` above `--label`).
    taxonomy: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""
    category_field: str = "label"
    label_field: str = "label"
    language_field: str | None = None

    @property
    def category_names(self) -> list[str]:
        return sorted(set(self.categories))


def resolve_data_path(path: Path) -> Path:
    """A labelled .jsonl file, or a data-set folder holding `labeled.jsonl`."""
    path = Path(path)
    if path.is_dir():
        path = path / LABELLED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No labelled data at {path}: pass a .jsonl file or a folder with {LABELLED_FILE}.")
    return path


def load_labelled_set(
    path: Path,
    label: str = "label",
    top: str | None = None,
    language: str | None = None,
    exclude: Sequence[str] = (),
    limit: int | None = None,
    seed: int = 0,
) -> LabelledSet:
    """Read `{text, <label>, [<top>], [<language>]}` records. `language` None: the `language` field when the
    records have one. Records whose category is in `exclude` are dropped; then `limit` keeps a seeded random
    sample (in file order)."""
    source = resolve_data_path(path)
    records = []
    with source.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            if "text" not in record or label not in record or (top is not None and top not in record):
                wanted = ", ".join(f for f in ("text", label, top) if f)
                raise ValueError(f"{source}:{line_no}: a record lacks one of the fields {wanted}")
            records.append(record)
    if not records:
        raise ValueError(f"{source} holds no records")
    if language is None and LANGUAGE_FIELD in records[0]:
        language = LANGUAGE_FIELD
    elif language is not None and language not in records[0]:
        raise ValueError(f"{source}: the records have no field {language!r} for --language")
    category_field = top or label
    excluded = set(exclude)
    records = [r for r in records if str(r[category_field]) not in excluded]
    if limit is not None and limit < len(records):
        keep = np.sort(np.random.default_rng(seed).choice(len(records), size=limit, replace=False))
        records = [records[i] for i in keep]
    categories = [str(r[category_field]) for r in records]
    labels = [str(r[label]) for r in records]
    taxonomy: dict[str, list[str]] = {}
    if top is not None and top != label:
        subs: dict[str, set[str]] = defaultdict(set)
        for category, fine in zip(categories, labels):
            subs[category].add(fine)
        taxonomy = {c: sorted(s) for c, s in sorted(subs.items())}
    return LabelledSet(
        texts=[str(r["text"]) for r in records],
        categories=categories,
        labels=labels,
        languages=[str(r.get(language, "")) for r in records] if language else None,
        taxonomy=taxonomy,
        source=str(source),
        category_field=category_field,
        label_field=label,
        language_field=language,
    )


# ---- assigning base clusters to categories ---------------------------------------------------------------


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)



def assign_by_similarity(centroids: np.ndarray, anchor_vectors: np.ndarray, owners: Sequence[int],
                         centre: bool = True) -> np.ndarray:
    """Per cluster, the category of the anchor most similar (cosine) to the cluster's centroid.

    `centre`: each anchor's similarities are taken relative to its mean over all clusters, so an anchor that
    is close to everything (a hub, e.g. a broad name in a language the model favours) doesn't collect
    clusters that are merely typical."""
    similarity = _unit(np.asarray(centroids, dtype=np.float32)) @ _unit(np.asarray(anchor_vectors, dtype=np.float32)).T
    if centre and len(similarity) > 1:
        similarity = similarity - similarity.mean(axis=0, keepdims=True)
    return np.asarray(owners)[similarity.argmax(axis=1)]


def _match_category(answer: str, names: list[str]) -> str | None:
    from clio_dagster.llm.hierarchy import _match  # the hierarchizer's own reading of an assign_parent answer

    return _match(answer, names)


def assign_by_llm(backend: Any, cluster_texts: Sequence[str], category_names: Sequence[str]) -> list[int | None]:
    """Clio's assignment step: each cluster ('name: description') to one category from the shuffled list."""
    from clio_dagster.llm.base import TaskFailure

    names = list(category_names)
    answers = backend.assign_parent(list(cluster_texts), names)
    chosen: list[int | None] = []
    for answer in answers:
        matched = None if isinstance(answer, TaskFailure) else _match_category(answer, names)
        chosen.append(None if matched is None else names.index(matched))
    return chosen


def _llm_cluster_texts(backend: Any, summaries: list[str], vectors: np.ndarray, labels: np.ndarray,
                       centroids: np.ndarray, sample_size: int, seed: int) -> list[str]:
    """'name: description' per base cluster, named as the pipeline names them (contrastive samples)."""
    from clio_dagster.core.sampling import contrastive_samples
    from clio_dagster.llm.base import TaskFailure

    picks = contrastive_samples(labels, vectors, centroids, n=sample_size, seed=seed)
    samples = {c: ([summaries[i] for i in inside], [summaries[i] for i in outside]) for c, (inside, outside) in picks.items()}
    named = backend.name_cluster_samples(samples)
    texts = []
    for cid in range(len(centroids)):
        output = named.get(cid)
        # An unnamed cluster still gets an assignment, from a few of its own summaries.
        texts.append("; ".join(samples.get(cid, ([], []))[0][:5]) if output is None or isinstance(output, TaskFailure)
                     else f"{output.name}: {output.summary}")
    return texts


def _round(value: float) -> float:
    return round(float(value), 4)


def _backend(settings: Any, resources: dict) -> Any:
    """The configured LLM backend; claude caches its answers in an eval DB under CLIO_HOME, apart from the
    pipeline's private DB, so a re-run pays for nothing twice."""
    store = None
    if settings.uses_llm:
        from clio_dagster.llm.store import LLMStore
        from clio_dagster.storage import Warehouse

        folder = settings.home / EVAL_DIR
        store = LLMStore(Warehouse(folder / "reconstruct_private.duckdb", folder / "reconstruct_public.duckdb",
                                   settings.lock_timeout_s), asset="eval_reconstruct")
    return resources["llm"].get(store)


def _choose_k(k_rule: str | int, n: int, n_labels: int, settings: Any) -> int:
    from clio_dagster.core.clustering import choose_k

    if k_rule == "pipeline":
        return choose_k(n, settings.target_cluster_size, settings.k_min, settings.k_max)
    return min(n_labels if k_rule == "labels" else int(k_rule), n)


def _assign_clusters(backend: Any, embedder: Any, data: LabelledSet, categories: list[str], summaries: list[str],
                     vectors: np.ndarray, clusters: Any, matching: str, settings: Any) -> tuple[list[int | None], str]:
    """Category index (or None) per base cluster, and how it was chosen."""
    if not backend.heuristic:
        names = [readable(c) for c in categories]
        if len(set(names)) < len(names):  # two labels read alike: show them as they are
            names = list(categories)
        cluster_texts = _llm_cluster_texts(backend, summaries, vectors, clusters.labels, clusters.centroids,
                                           settings.naming_sample_size, settings.seed)
        return (assign_by_llm(backend, cluster_texts, names),
                "llm: Clio assign_parent of each named base cluster to the known categories")
    taxonomy = data.taxonomy if matching == "anchors" else {}
    anchor_texts, owners = category_anchors(categories, taxonomy)
    anchor_vectors = np.asarray(embedder.encode(anchor_texts), dtype=np.float32)
    hub_corrected = matching == "anchors"
    chosen = assign_by_similarity(clusters.centroids, anchor_vectors, owners, centre=hub_corrected)
    method = ("heuristic: " + ("nearest category or sub-category name" if taxonomy else "nearest category name")
              + " to the cluster centroid" + (", similarities centred per name over clusters" if hub_corrected else ""))
    return [int(c) for c in chosen], method


def score(data: LabelledSet, predicted: Sequence[str | None], clustered: Sequence[int], cluster_ids: Sequence[int]) -> dict[str, Any]:
    """Reconstruction scores per item (None: no category) and the base clusters (`cluster_ids` of the items
    at `clustered`) against the fine labels."""
    fine = [data.labels[i] for i in clustered]
    per_language = per_group_accuracy(data.categories, predicted, data.languages) if data.languages is not None else {}
    worst = min(per_language.items(), key=lambda kv: (kv[1], kv[0])) if per_language else None
    return {
        "accuracy": _round(accuracy(data.categories, predicted)),
        "macro_f1": _round(macro_f1(data.categories, predicted)),
        "nmi": _round(nmi(fine, cluster_ids)),
        "ari": _round(ari(fine, cluster_ids)),
        "purity": _round(purity(fine, cluster_ids)),
        "per_language": {language: _round(value) for language, value in per_language.items()},
        "worst_language": {"language": worst[0], "accuracy": _round(worst[1])} if worst else None,
    }


def reconstruct(
    data: LabelledSet,
    settings: Any,
    k_rule: str | int = "pipeline",
    matching: str = "anchors",
    embedder: Any | None = None,
    language_neutral: bool | None = None,
) -> dict[str, Any]:
    """Run the reconstruction on `data` with the pipeline's steps as `settings` configure them; returns the
    result object `clio eval reconstruct` prints. `matching` (offline only): `anchors` (category and
    sub-category names, hub-corrected) or `names` (nearest category name: the plain baseline). `embedder`:
    anything with `encode(texts)`, default the pipeline's embedder resource. `language_neutral`: centre each
    detected language's summary embeddings before k-means, as summary_embeddings does with
    CLIO_LANGUAGE_NEUTRAL (default: that setting)."""
    from clio_dagster.core.clustering import kmeans
    from clio_dagster.core.progress import stage_progress
    from clio_dagster.core.records import Conversation, Message
    from clio_dagster.llm.base import TaskFailure
    from clio_dagster.resources import build_resources

    started = time.perf_counter()
    if matching not in ("anchors", "names"):
        raise ValueError(f"unknown matching {matching!r}: use 'anchors' or 'names'")
    resources = build_resources(settings)
    backend = _backend(settings, resources)
    embedder = embedder or resources["embedder"].get()

    conversations = [Conversation(conversation_id=f"item-{i:07d}", messages=(Message(role="user", text=text),))
                     for i, text in enumerate(data.texts)]
    # Progress on the `clio` command's terminal only (no Dagster run here): the claude backend takes long.
    with stage_progress("eval reconstruct: facets", total=len(conversations), unit="texts",
                        every_seconds=settings.progress_every, live=backend.progress_counters) as report, \
            backend.reporting(report):
        facets = backend.extract_facets(conversations)
    kept = [i for i, f in enumerate(facets) if not isinstance(f, TaskFailure)]
    if not kept:
        raise RuntimeError("No request summary could be made for any item: nothing to cluster.")
    summaries = [facets[i].request for i in kept]
    vectors = np.asarray(embedder.encode(summaries), dtype=np.float32)
    if language_neutral is None:
        language_neutral = settings.language_neutral
    if language_neutral:
        from clio_dagster.core.language_centering import centre_languages

        vectors = centre_languages(vectors, [facets[i].language_code for i in kept])
    n_labels = len(set(data.labels))
    k = _choose_k(k_rule, len(kept), n_labels, settings)
    clusters = kmeans(vectors, k, settings.seed, settings.minibatch_threshold)

    categories = data.category_names
    cluster_category, method = _assign_clusters(backend, embedder, data, categories, summaries, vectors, clusters,
                                                matching, settings)
    backend.flush()
    predicted: list[str | None] = [None] * len(data.texts)
    for row, item in enumerate(kept):
        chosen = cluster_category[int(clusters.labels[row])]
        predicted[item] = None if chosen is None else categories[chosen]

    result: dict[str, Any] = {
        "data": data.source,
        "category_field": data.category_field,
        "label_field": data.label_field,
        "language_field": data.language_field,
        "n": len(data.texts),
        "categories": len(categories),
        "labels": n_labels,
        **score(data, predicted, kept, [int(c) for c in clusters.labels]),
        "chance_accuracy": _round(1 / len(categories)),
        "backend": backend.name,
        "heuristic": bool(backend.heuristic),
        "assignment": method,
        "embedding_model": getattr(embedder, "model_name", settings.embedding_model),
        "k": int(k),
        "k_rule": k_rule if isinstance(k_rule, str) else "fixed",
        "language_neutral": language_neutral,
        "seed": settings.seed,
        "summary_failures": len(data.texts) - len(kept),
        "unassigned_clusters": sum(1 for c in cluster_category if c is None),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if not backend.heuristic:
        result["llm"] = backend.usage_metadata()
    return result


# ---- command line ------------------------------------------------------------------------------------------


def _k_rule(text: str) -> str | int:
    if text in K_RULES:
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k takes {', '.join(K_RULES)} or a number of clusters") from None
    if value < 1:
        raise argparse.ArgumentTypeError("--k must be at least 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reconstruct", help="Clio's reconstruction test: assign base clusters to known categories (prints one JSON object)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True,
                        help=f"a labelled .jsonl ({{text, label, ...}} per line) or a folder holding {LABELLED_FILE}")
    parser.add_argument("--label", default="label", help="field with each text's fine label (default: label)")
    parser.add_argument("--top", default=None,
                        help="field with the category to reconstruct, above --label (default: --label itself)")
    parser.add_argument("--language", default=None,
                        help=f"field with each text's language, for per-language accuracy (default: {LANGUAGE_FIELD} when present)")
    parser.add_argument("--exclude", action="append", default=[], metavar="CATEGORY",
                        help="leave out the records of this category (repeatable), e.g. an out-of-scope class")
    parser.add_argument("--backend", choices=("offline", "claude"), default=None,
                        help="LLM backend (default: CLIO_LLM_BACKEND, i.e. claude when ANTHROPIC_API_KEY is set)")
    parser.add_argument("--embedding-model", default=None,
                        help="embedding model (default: CLIO_EMBEDDING_MODEL; e.g. multilingual-e5-small)")
    parser.add_argument("--k", type=_k_rule, default="pipeline",
                        help="number of base clusters: 'pipeline' (n / CLIO_TARGET_CLUSTER_SIZE, as the pipeline "
                             "does; default), 'labels' (the number of distinct --label values) or a number")
    parser.add_argument("--matching", choices=("anchors", "names"), default="anchors",
                        help="offline: match clusters to category and sub-category names with hub correction "
                             "(anchors, default) or to the nearest category name only (names, the plain baseline)")
    parser.add_argument("--assign", choices=ASSIGN_MODES, default="names",
                        help="names (default): run the pipeline to the public DB and judge each published base "
                             "cluster's name and description against the category names (what a person reads); "
                             "centroid: match cluster centroids to category anchors, a diagnostic of the clustering "
                             "that never reads a name")
    parser.add_argument("--judge-model", default=None,
                        help="--assign names: the embedder that matches names to categories (default: "
                             "all-MiniLM-L6-v2, fixed whatever the pipeline embeds with)")
    parser.add_argument("--language-neutral", action="store_true", default=None,
                        help="centre each detected language's embeddings before k-means, so clusters follow topics "
                             "rather than languages (default: CLIO_LANGUAGE_NEUTRAL, which the pipeline uses too)")
    parser.add_argument("--limit", type=int, default=None, help="score a seeded random sample of N records")
    parser.add_argument("--seed", type=int, default=None, help="seed of the sample and of k-means (default: CLIO_SEED)")
    parser.set_defaults(func=_cmd_reconstruct)


def reconstruct_names(data: LabelledSet, settings: Any, judge_model: str | None = None) -> dict[str, Any]:
    """`--assign names`: the pipeline's own steps to the public DB, judged by the published names
    (`clio_dagster.evaluation.names`)."""
    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.evaluation.names import DEFAULT_JUDGE_MODEL, reconstruct_by_names

    started = time.perf_counter()
    judge_model = judge_model or DEFAULT_JUDGE_MODEL
    result = reconstruct_by_names(data, settings, SentenceEmbedder(judge_model), judge_model)
    return {
        "data": data.source, "category_field": data.category_field, "label_field": data.label_field,
        "language_field": data.language_field, "n": len(data.texts), "categories": len(data.category_names),
        **result,
        "chance_accuracy": _round(1 / len(data.category_names)),
        "backend": settings.backend, "heuristic": settings.backend == "offline",
        "embedding_model": settings.embedding_model, "language_neutral": settings.language_neutral,
        "seed": settings.seed, "seconds": round(time.perf_counter() - started, 2),
    }


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from clio_dagster.settings import load_settings

    overrides: dict[str, Any] = {}
    if args.backend:
        overrides["llm_backend"] = args.backend
    if args.embedding_model:
        overrides["embedding_model"] = args.embedding_model
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.language_neutral:
        overrides["language_neutral"] = True
    settings = load_settings(**overrides)
    try:
        data = load_labelled_set(args.data, label=args.label, top=args.top, language=args.language,
                                 exclude=args.exclude, limit=args.limit, seed=settings.seed)
    except (FileNotFoundError, ValueError) as exc:
        print(f"clio eval reconstruct: {exc}", file=sys.stderr)
        return 2
    if args.assign == "names":
        result = reconstruct_names(data, settings, args.judge_model)
    else:
        result = reconstruct(data, settings, k_rule=args.k, matching=args.matching,
                             language_neutral=args.language_neutral)
    print(json.dumps(result, ensure_ascii=False))
    return 0
