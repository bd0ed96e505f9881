"""Sentence vectors through the private embedding cache (table `embedding_cache`, keyed by model and text hash):
each distinct text is encoded once per model, ever, and an interrupted encode resumes where it stopped."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from clio_dagster.core.embedding import SentenceEmbedder
from clio_dagster.core.hashing import text_hash
from clio_dagster.core.progress import Progress
from clio_dagster.core.sharding import shard_of
from clio_dagster.core.vectors import arrow_to_vectors, vectors_to_arrow
from clio_dagster.storage import Warehouse, load_sql, query_arrow, transaction

# Texts encoded (and cached) per step: bounds the work lost to an interruption and the vectors in flight.
ENCODE_PAGE_SIZE = 4096


@dataclass(frozen=True)
class CachedEmbedding:
    matrix: np.ndarray  # one row per input text, in input order
    hashes: list[str]
    dim: int
    encoded: int  # distinct texts encoded now
    cache_hits: int  # distinct texts found in the cache
    encode_seconds: float


def encoding_batches(tokens_by_hash: dict[str, int], batch_size: int) -> list[list[str]]:
    """The text hashes in batches of at most `batch_size` texts of one token count each, fewest tokens first
    (ties by hash). A padded batch changes its texts' vectors in the last float digits, and a vector that depends
    on its companions depends on the day: a text shared by two days, cached by whichever ran first, would move
    the map of the other (UMAP follows such digits). Unpadded, a text's vector is the same in any batch, so in
    any day, shard or order of runs; and no token is wasted on padding (sorted by characters, mixed-script days
    encoded 1.5x slower)."""
    ordered = sorted(tokens_by_hash, key=lambda h: (tokens_by_hash[h], h))
    batches: list[list[str]] = []
    for _, alike in itertools.groupby(ordered, key=tokens_by_hash.__getitem__):
        same_length = list(alike)
        batches += [same_length[i : i + batch_size] for i in range(0, len(same_length), batch_size)]
    return batches


def encode_unpadded(model: SentenceEmbedder, texts: list[str]) -> np.ndarray:
    """`model.encode` of one batch of texts of one token count. A lone text is encoded beside itself: a batch of
    one takes another code path in sentence-transformers (vectors 1e-7 apart from the same text in a batch)."""
    return model.encode(texts * 2)[:1] if len(texts) == 1 else model.encode(texts)


def embed_with_cache(texts: list[str], model: SentenceEmbedder, warehouse: Warehouse,
                     part: tuple[int, int] = (0, 1), report: Progress | None = None) -> CachedEmbedding:
    """Vectors of `texts` from the private embedding cache, encoding only what this model has not embedded
    before (with no DuckDB connection open) and caching it. The model is not even loaded when all is cached.
    Texts are encoded by `encoding_batches`, and cached ENCODE_PAGE_SIZE at a time as soon as they are encoded,
    so an interrupted run resumes where it stopped. `part` (i, n): only slice i of n of the batches (a shard of
    the work; the result then holds those texts' vectors only, in input order). `report` counts distinct texts:
    cache hits at once, the others as their batches are encoded."""
    all_hashes = [text_hash(t) for t in texts]
    first_text = dict(zip(all_hashes, texts))
    distinct = list(first_text)
    tokens = dict(zip(distinct, model.token_counts([first_text[h] for h in distinct])))
    batches = shard_of(encoding_batches(tokens, model.batch_size), *part)
    wanted = {h for batch in batches for h in batch}
    hashes = all_hashes if part == (0, 1) else [h for h in all_hashes if h in wanted]
    with warehouse.connect("private") as con:
        con.register("needed_hashes", pa.table({"text_hash": sorted(wanted)}))
        cached = query_arrow(con, load_sql("select_cached_embeddings.sql"), [model.cache_key])
        con.unregister("needed_hashes")
    cached_hashes = cached.column("text_hash").to_pylist()
    missing = wanted - set(cached_hashes)
    dim = len(cached.column("embedding")[0]) if cached_hashes and not missing else model.dim
    by_hash = dict(zip(cached_hashes, arrow_to_vectors(cached.column("embedding"), dim)))
    del cached
    todo = [[h for h in batch if h in missing] for batch in batches]
    if report is not None:
        report.set_total(len(wanted))
        report.advance(len(wanted) - len(missing), timed=False, cache_hits=len(wanted) - len(missing), encoded=0)
    encode_started = time.perf_counter()
    page: list[str] = []
    for number, batch in enumerate(todo):
        if batch:
            by_hash.update(zip(batch, encode_unpadded(model, [first_text[h] for h in batch])))
            page += batch
            if report is not None:
                report.advance(len(batch), encoded=len(batch))
        if page and (len(page) >= ENCODE_PAGE_SIZE or number == len(todo) - 1):
            _cache(warehouse, model, page, np.stack([by_hash[h] for h in page]))
            page = []
    encode_seconds = time.perf_counter() - encode_started
    matrix = np.stack([by_hash[h] for h in hashes]) if hashes else np.zeros((0, dim), np.float32)
    return CachedEmbedding(matrix, hashes, dim, len(missing), len(cached_hashes), encode_seconds)


def _cache(warehouse: Warehouse, model: SentenceEmbedder, hashes: list[str], vectors: np.ndarray) -> None:
    new_cache = pa.table({"model": [model.cache_key] * len(hashes), "text_hash": hashes,
                          "embedding": vectors_to_arrow(vectors)})
    with warehouse.connect("private") as con, transaction(con):
        con.register("new_cache", new_cache)
        con.execute(load_sql("insert_embedding_cache.sql"))
        con.unregister("new_cache")
