import numpy as np
import pytest

from clio_dagster.core.clustering import KMeansResult, choose_k, kmeans, merge_undersized


@pytest.mark.parametrize(
    ("n", "target", "k_min", "k_max", "expected"),
    [
        (0, 50, 2, 100, 0),
        (1, 50, 2, 100, 1),  # never more clusters than points
        (10, 50, 2, 100, 2),  # k_min
        (1000, 50, 2, 100, 20),
        (100_000, 50, 2, 100, 100),  # k_max
        (1049, 50, 2, 5000, 21),
    ],
)
def test_choose_k_clamps(n, target, k_min, k_max, expected):
    assert choose_k(n, target, k_min, k_max) == expected


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, 16)) * 10
    sizes = [40, 30, 20, 10]
    points = np.concatenate([c + rng.normal(size=(s, 16)) for c, s in zip(centers, sizes)])
    truth = np.repeat(np.arange(4), sizes)
    return points.astype(np.float32), truth


def test_kmeans_recovers_blobs_and_numbers_clusters_by_size():
    points, truth = _blobs()
    result = kmeans(points, 4, seed=0)
    sizes = np.bincount(result.labels)
    assert sizes.tolist() == [40, 30, 20, 10]
    # Each true blob maps to exactly one cluster.
    for blob in range(4):
        assert len(set(result.labels[truth == blob])) == 1
    assert result.centroids.shape == (4, 16)
    assert np.allclose(result.distances, np.linalg.norm(points - result.centroids[result.labels], axis=1), atol=1e-4)


def test_kmeans_is_deterministic_for_a_seed():
    points, _ = _blobs(1)
    noise = np.random.default_rng(5).normal(size=(200, 16)).astype(np.float32)
    data = np.concatenate([points, noise])
    a = kmeans(data, 7, seed=3)
    b = kmeans(data, 7, seed=3)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.centroids, b.centroids)


def test_minibatch_path_used_above_threshold_is_seeded_too():
    points, truth = _blobs(2)
    a = kmeans(points, 4, seed=0, minibatch_threshold=10)
    b = kmeans(points, 4, seed=0, minibatch_threshold=10)
    assert np.array_equal(a.labels, b.labels)
    assert sorted(np.bincount(a.labels).tolist(), reverse=True) == [40, 30, 20, 10]


def test_kmeans_rejects_empty_input():
    with pytest.raises(ValueError, match="cannot cluster 0 points"):
        kmeans(np.zeros((0, 4), np.float32), 2, seed=0)


def test_large_path_seeds_from_a_sample_and_matches_full_kmeans_quality(monkeypatch):
    from clio_dagster.core import clustering

    rng = np.random.default_rng(4)
    centers = rng.normal(size=(30, 24)) * 4
    truth = rng.integers(0, 30, size=3000)
    points = (centers[truth] + rng.normal(size=(3000, 24))).astype(np.float32)
    seeded_from = []
    original = clustering._sampled_kmeans_plus_plus

    def spy(x, k, seed):
        centres = original(x, k, seed)
        seeded_from.append(len(x))
        return centres

    monkeypatch.setattr(clustering, "SEEDING_SAMPLE_MAX", 500)
    monkeypatch.setattr(clustering, "_sampled_kmeans_plus_plus", spy)
    large = kmeans(points, 30, seed=1, minibatch_threshold=1000)
    assert seeded_from == [3000]  # the large path ran (the spy sees all points, k-means++ only a sample)
    again = kmeans(points, 30, seed=1, minibatch_threshold=1000)
    assert np.array_equal(large.labels, again.labels) and np.array_equal(large.centroids, again.centroids)
    full = kmeans(points, 30, seed=1, minibatch_threshold=10_000)
    inertia = lambda r: float(np.square(r.distances.astype(np.float64)).sum())  # noqa: E731
    assert inertia(large) <= 1.05 * inertia(full)


def _line(*groups: tuple[float, int]) -> np.ndarray:
    """Points on a line: `count` copies (with a little seeded jitter) at each position."""
    rng = np.random.default_rng(0)
    values = np.concatenate([position + rng.uniform(-0.1, 0.1, size=count) for position, count in groups])
    return np.stack([values, np.zeros_like(values)], axis=1).astype(np.float32)


def _clusters(points: np.ndarray, labels: list[int]) -> KMeansResult:
    labels = np.asarray(labels, dtype=np.int32)
    centroids = np.stack([points[labels == c].mean(axis=0) for c in range(labels.max() + 1)])
    return KMeansResult(labels, centroids.astype(np.float32),
                        np.linalg.norm(points - centroids[labels], axis=1).astype(np.float32))


def test_an_undersized_clusters_points_each_join_their_nearest_remaining_centroid():
    points = _line((0.0, 20), (10.0, 20), (4.0, 1), (6.0, 1), (8.0, 1))
    start = _clusters(points, [0] * 20 + [1] * 20 + [2] * 3)
    result, dissolved = merge_undersized(points, start, min_size=5)
    assert dissolved == 1
    # 4 is nearer the cluster at 0; 6 and 8 nearer the one at 10: renumbered by size, that one is first.
    assert result.labels.tolist() == [1] * 20 + [0] * 20 + [1, 0, 0]
    assert np.bincount(result.labels).tolist() == [22, 21]
    for cluster in (0, 1):  # each centroid is its members' mean again
        assert np.allclose(result.centroids[cluster], points[result.labels == cluster].mean(axis=0), atol=1e-5)
    assert np.allclose(result.distances, np.linalg.norm(points - result.centroids[result.labels], axis=1), atol=1e-5)


def test_merging_goes_on_until_every_cluster_reaches_the_floor_smallest_first():
    points, truth = _blobs()  # blobs of 40, 30, 20 and 10
    start = kmeans(points, 4, seed=0)
    result, dissolved = merge_undersized(points, start, min_size=25)
    assert dissolved == 2
    assert min(np.bincount(result.labels)) >= 25 and np.bincount(result.labels).sum() == 100
    # The two blobs that met the floor stay whole and apart.
    assert len({int(result.labels[truth == 0][0]), int(result.labels[truth == 1][0])}) == 2
    for blob in (0, 1):
        assert len(set(result.labels[truth == blob].tolist())) == 1


def test_a_partition_smaller_than_the_floor_ends_as_one_cluster_and_big_enough_ones_are_left_alone():
    points, _ = _blobs()
    start = kmeans(points, 4, seed=0)
    whole, dissolved = merge_undersized(points, start, min_size=500)
    assert dissolved == 3 and set(whole.labels.tolist()) == {0} and whole.centroids.shape == (1, 16)
    unchanged, none = merge_undersized(points, start, min_size=10)
    assert none == 0 and unchanged is start



def test_a_lone_outlier_joins_its_nearest_cluster():
    points = _line((0.0, 20), (10.0, 20), (9.0, 1))
    result, dissolved = merge_undersized(points, _clusters(points, [0] * 20 + [1] * 20 + [2]), min_size=2)
    assert dissolved == 1 and result.labels.tolist() == [1] * 20 + [0] * 21
