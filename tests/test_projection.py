"""Map projection (Clio §G.6): deterministic UMAP to the unit square, published only per cluster.

Only the module-scoped `blob_map` fixture runs real UMAP (the first call in a process pays ~5 s of
numba JIT compilation); everything else is numpy, PCA or a stand-in for umap.UMAP.
"""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import pytest

from clio_dagster.core import projection
from clio_dagster.core.projection import (
    ClusterPosition,
    cluster_positions,
    configure_numba_cache,
    exact_cosine_knn,
    normalise_unit_square,
    parent_positions,
    project,
)


def _blobs(n_blobs: int, per_blob: int, dim: int = 384, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_blobs, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_blobs), per_blob)
    points = centres[labels] + rng.standard_normal((len(labels), dim)) * (0.3 / math.sqrt(dim))
    order = rng.permutation(len(labels))  # interleave the blobs
    return points[order].astype(np.float32), labels[order]


@pytest.fixture(scope="module")
def blob_map():
    x, labels = _blobs(n_blobs=4, per_blob=40)
    first = project(x, seed=3)
    second = project(x, seed=3)
    return x, labels, first, second


# ---------------------------------------------------------------------------- UMAP (real)


def test_project_is_deterministic_and_normalised(blob_map):
    x, _, first, second = blob_map
    assert first.shape == (len(x), 2) and first.dtype == np.float32
    assert np.array_equal(first, second)
    assert np.allclose(first.min(axis=0), 0.0) and np.allclose(first.max(axis=0), 1.0)


def test_blobs_land_in_distinct_regions(blob_map):
    _, labels, points, _ = blob_map
    positions = cluster_positions(points, labels)
    assert [p.cluster_id for p in positions] == [0, 1, 2, 3]
    assert [p.size for p in positions] == [40] * 4
    for a, b in itertools.combinations(positions, 2):
        gap = math.hypot(a.x - b.x, a.y - b.y)
        assert gap > a.spread + b.spread, (a, b)


# ---------------------------------------------------------------------------- UMAP parameters


class _FakeUMAP:
    calls: list[dict] = []

    def __init__(self, **kwargs):
        _FakeUMAP.calls.append(kwargs)

    def fit_transform(self, x):
        return np.asarray(x, dtype=np.float64)[:, :2] * 10 - 5


@pytest.fixture
def fake_umap(monkeypatch):
    umap = pytest.importorskip("umap")
    _FakeUMAP.calls = []
    monkeypatch.setattr(umap, "UMAP", _FakeUMAP)
    return _FakeUMAP.calls


def test_umap_parameters_and_neighbour_path(fake_umap, monkeypatch):
    x, _ = _blobs(n_blobs=2, per_blob=15, dim=8)
    out = project(x, seed=11)
    (kwargs,) = fake_umap
    assert kwargs["n_neighbors"] == 15 and kwargs["min_dist"] == 0.0 and kwargs["metric"] == "cosine"
    assert kwargs["random_state"] == 11 and kwargs["n_components"] == 2
    assert kwargs["force_approximation_algorithm"] is True
    knn_indices, knn_dists = kwargs["precomputed_knn"]
    assert knn_indices.shape == knn_dists.shape == (30, 15)
    assert out.min() == 0.0 and out.max() == 1.0

    monkeypatch.setattr(projection, "EXACT_KNN_MAX_POINTS", 10)  # big inputs: pynndescent inside UMAP
    project(x, seed=11)
    assert fake_umap[1]["precomputed_knn"] == (None, None, None)
    assert fake_umap[1]["force_approximation_algorithm"] is True


def test_exact_cosine_knn_matches_brute_force():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 6)).astype(np.float32)
    x[7] = x[3] * 2.5  # same direction as 3: distance 0, yet each point stays first in its own row
    indices, dists = exact_cosine_knn(x, 5, block=16)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    full = np.clip(1.0 - unit @ unit.T, 0.0, None)
    assert (indices[:, 0] == np.arange(50)).all()
    assert set(indices[3, :2]) == {3, 7} and set(indices[7, :2]) == {3, 7}
    for i in range(50):
        expected = np.sort(full[i])[:5]
        assert np.allclose(dists[i], expected, atol=1e-5)
        assert np.allclose(full[i, indices[i]], dists[i], atol=1e-5)
    assert (np.diff(dists, axis=1) >= 0).all()


# ---------------------------------------------------------------------------- tiny n


def test_empty_and_single_point():
    assert project(np.zeros((0, 384), dtype=np.float32)).shape == (0, 2)
    one = project(np.ones((1, 384), dtype=np.float32))
    assert one.dtype == np.float32 and np.array_equal(one, np.zeros((1, 2), dtype=np.float32))


def test_small_inputs_use_seeded_pca_not_umap(monkeypatch):
    def no_umap(*args, **kwargs):
        raise AssertionError("UMAP must not run below n_neighbors + 2 points")

    monkeypatch.setattr(projection, "_umap_2d", no_umap)
    rng = np.random.default_rng(2)
    for n in (2, 3, 10, 16):
        x = rng.standard_normal((n, 384)).astype(np.float32)
        a, b = project(x, seed=5), project(x, seed=5)
        assert a.shape == (n, 2) and a.dtype == np.float32
        assert np.array_equal(a, b)
        assert a.min() >= 0.0 and a.max() <= 1.0

    from sklearn.decomposition import PCA

    x = rng.standard_normal((12, 20))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = normalise_unit_square(PCA(n_components=2, svd_solver="full").fit_transform(unit))
    assert np.allclose(project(x), expected, atol=1e-6)
    assert project(rng.standard_normal((5, 1))).shape == (5, 2)  # 1-d input: second axis is padding


def test_threshold_between_pca_and_umap(monkeypatch):
    seen = []
    monkeypatch.setattr(projection, "_umap_2d", lambda x, seed, k, d: seen.append(len(x)) or x[:, :2].astype(float))
    rng = np.random.default_rng(4)
    project(rng.standard_normal((16, 10)), n_neighbors=15)
    assert seen == []
    project(rng.standard_normal((17, 10)), n_neighbors=15)
    assert seen == [17]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        project(np.zeros(10))
    with pytest.raises(ValueError):
        project(np.full((20, 4), np.nan))


def test_normalise_unit_square_guards_zero_range():
    out = normalise_unit_square(np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]]))
    assert np.array_equal(out, np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]], dtype=np.float32))


# ---------------------------------------------------------------------------- positions


def test_cluster_positions_are_member_centroids():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.2, 0.9], [0.4, 0.8], [0.6, 1.0], [0.5, 0.5]])
    labels = np.array([5, 5, 2, 2, 2, -1])
    positions = cluster_positions(points, labels)
    assert [p.cluster_id for p in positions] == [-1, 2, 5]
    for p in positions:
        members = points[labels == p.cluster_id]
        centre = members.mean(axis=0)
        assert (p.x, p.y) == pytest.approx(tuple(centre))
        assert p.spread == pytest.approx(np.sqrt(((members - centre) ** 2).sum(axis=1).mean()))
        assert p.size == len(members)
    assert positions[2] == ClusterPosition(cluster_id=5, x=0.5, y=0.0, spread=0.5, size=2)
    assert positions[0].spread == 0.0
    assert cluster_positions(np.zeros((0, 2)), np.zeros(0, dtype=int)) == []
    with pytest.raises(ValueError):
        cluster_positions(points, labels[:3])


def test_parent_positions_weight_by_size():
    children = {
        0: ClusterPosition(0, x=0.0, y=0.0, spread=0.0, size=3),
        1: ClusterPosition(1, x=1.0, y=1.0, spread=0.0, size=1),
        2: ClusterPosition(2, x=0.5, y=0.2, spread=0.1, size=4),
        3: ClusterPosition(3, x=0.9, y=0.9, spread=0.1, size=9),  # no parent: skipped
    }
    parents = parent_positions(children, {0: "b", 1: "b", 2: "a", 9: "a"})
    assert list(parents) == ["a", "b"]
    x, y, spread = parents["b"]
    assert (x, y) == pytest.approx((0.25, 0.25))  # not the unweighted (0.5, 0.5)
    assert spread == pytest.approx(math.sqrt((3 * 0.125 + 1 * 1.125) / 4))
    assert parents["a"] == pytest.approx((0.5, 0.2, 0.1))


def test_parent_spread_equals_pooled_members():
    rng = np.random.default_rng(9)
    points = rng.random((60, 2))
    labels = rng.integers(0, 6, size=60)
    parent_of = {0: "p", 1: "p", 2: "p", 3: "q", 4: "q", 5: "q"}
    children = {p.cluster_id: p for p in cluster_positions(points, labels)}
    parents = parent_positions(children, parent_of)
    merged = cluster_positions(points, np.array([0 if parent_of[int(c)] == "p" else 1 for c in labels]))
    for name, direct in zip(("p", "q"), merged):
        assert parents[name] == pytest.approx((direct.x, direct.y, direct.spread))


# ---------------------------------------------------------------------------- numba cache


def test_numba_cache_dir_only_set_when_needed(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert configure_numba_cache() is None

    pytest.importorskip("umap")
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.delitem(sys.modules, "numba", raising=False)  # as if numba were not imported yet
    monkeypatch.setenv("HOME", str(tmp_path))
    # site-packages read-only, the home folder writable
    monkeypatch.setattr(projection.os, "access", lambda path, mode: str(path).startswith(str(tmp_path)))
    folder = configure_numba_cache()
    assert folder == str(tmp_path / ".cache" / "clio-numba")
    assert projection.os.environ["NUMBA_CACHE_DIR"] == folder


def test_numpy_neighbour_graph_kernels_match_umaps_own():
    """core.fuzzy_graph replaces umap-learn's uncached numba kernels while we fit: same results, to float32 rounding."""
    import umap.umap_ as umap_module

    from clio_dagster.core import fuzzy_graph
    from clio_dagster.core.projection import exact_cosine_knn

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 32)).astype(np.float32)
    x[7] = x[8]  # a duplicate: a neighbour at distance 0
    indices, distances = exact_cosine_knn(x, 15)[:2]
    distances = distances.astype(np.float32)
    sigma, rho = fuzzy_graph.smooth_knn_dist(distances, 15.0)
    expected_sigma, expected_rho = umap_module.smooth_knn_dist(distances, 15.0)
    np.testing.assert_array_equal(rho, expected_rho)
    np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-4)
    got = fuzzy_graph.compute_membership_strengths(indices, distances, expected_sigma, expected_rho, True)
    expected = umap_module.compute_membership_strengths(indices, distances, expected_sigma, expected_rho, True)
    for part, want in zip(got[:2], expected[:2]):
        np.testing.assert_array_equal(part, want)
    np.testing.assert_allclose(got[2], expected[2], atol=1e-6)
    np.testing.assert_array_equal(got[3], expected[3])
    with fuzzy_graph.numpy_neighbour_graph():
        assert umap_module.smooth_knn_dist is fuzzy_graph.smooth_knn_dist
    assert umap_module.smooth_knn_dist is not fuzzy_graph.smooth_knn_dist  # restored
