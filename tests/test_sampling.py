import numpy as np

from clio_dagster.core.sampling import contrastive_samples


def test_in_cluster_sample_is_seeded_and_contrast_is_nearest_non_members():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (100, 8)), rng.normal(5, 1, (30, 8)), rng.normal(10, 1, (30, 8))])
    labels = np.array([0] * 100 + [1] * 30 + [2] * 30)
    centroids = np.stack([x[labels == c].mean(axis=0) for c in range(3)])
    a = contrastive_samples(labels, x, centroids, n=10, seed=1, chunk=17)
    b = contrastive_samples(labels, x, centroids, n=10, seed=1, chunk=1000)
    assert a == b  # chunking changes nothing; the seed fixes the sample
    inside, outside = a[0]
    assert len(inside) == 10 and all(labels[i] == 0 for i in inside)
    assert len(outside) == 10 and all(labels[i] != 0 for i in outside)
    # the contrast of cluster 0 is the 10 non-members nearest its centroid: all from cluster 1
    d = np.linalg.norm(x - centroids[0], axis=1)
    expected = [i for i in np.argsort(d) if labels[i] != 0][:10]
    assert outside == [int(i) for i in expected]
    assert contrastive_samples(labels, x, centroids, n=10, seed=2)[0][0] != inside
