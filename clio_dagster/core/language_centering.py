"""Language-neutral embeddings for clustering.

Multilingual sentence encoders keep a per-language offset: texts in one language sit nearer each other than
their meaning warrants, so k-means can form a cluster of "texts in Portuguese" rather than of a topic.
Shifting each language's vectors so that the language's mean lands on the overall mean removes most of that
offset while keeping what differs within a language (Libovický et al., 2020, "On the Language Neutrality of
Pre-trained Multilingual Representations")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Smaller groups keep their vectors: their mean is mostly their topics, and a language detector's odd
# guesses on short texts form such groups.
MIN_LANGUAGE_GROUP = 20


def centre_languages(vectors: np.ndarray, languages: Sequence[str], min_group: int = MIN_LANGUAGE_GROUP) -> np.ndarray:
    """Unit-length copies of `vectors` with each language of at least `min_group` rows moved to the overall mean."""
    x = np.array(vectors, dtype=np.float32, copy=True)
    if len(languages) != len(x):
        raise ValueError(f"{len(languages)} languages for {len(x)} vectors")
    if len(x) == 0:
        return x
    overall = x.mean(axis=0)
    groups = np.asarray(languages, dtype=object)
    for language in sorted(set(languages)):
        rows = np.flatnonzero(groups == language)
        if rows.size >= min_group:
            x[rows] += overall - x[rows].mean(axis=0)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
