"""Per-day k-means, the serial step of a day that no shard can split: time and memory from 100k to 1M points,
the largest size measured here, to extrapolate to 1M and 10M conversations a day (BENCHMARKS.md, scaling model).

    .venv/bin/python bench/bench_kmeans_scale.py [--sizes 100000 300000 1000000] [--iterations 3]

Each size runs in a child process (its peak RSS is its own) through the project's own k-means path
(core/clustering.py): k = clamp(n / 50, 2, 5000) as in the default settings, k-means++ seeded from a 20k sample,
then Lloyd's iterations with BLAS single-threaded. At 100k the fit runs to convergence (capped at 50 iterations,
as in the pipeline) and its iteration count is recorded; larger sizes time `--iterations` Lloyd iterations, and
the full fit is projected as seeding + per-iteration time x the iteration count measured at 100k.

Vectors: seeded synthetic 384-d unit vectors (all-MiniLM-L6-v2's dimension) around 5,000 topic directions with
Zipf-like topic sizes, so that the data has cluster structure. Encoding a million real summaries here would take
two hours (BENCHMARKS.md, scale section); Lloyd's cost per iteration depends on n, k and the dimension only.
Results: bench/results/kmeans_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "kmeans_scale.json"
DIM, TOPICS, SEED = 384, 5_000, 0
TARGET_CLUSTER_SIZE, K_MIN, K_MAX = 50, 2, 5_000


def synthetic_vectors(n: int, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((TOPICS, DIM)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, TOPICS + 1) ** 0.8
    x = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # a chunk at a time: the float64 noise never exceeds ~300 MB
        stop = min(n, start + 100_000)
        chosen = rng.choice(TOPICS, size=stop - start, p=weights / weights.sum())
        block = topics[chosen] + 0.06 * rng.standard_normal((stop - start, DIM)).astype(np.float32)
        x[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return x


def measure(n: int, iterations: int) -> dict:
    """One size, in this process: seeding, Lloyd's iterations (all of them at 100k, `iterations` above)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    from clio_dagster.core.clustering import LARGE_MAX_ITER, _sampled_kmeans_plus_plus, choose_k

    x = synthetic_vectors(n)
    k = choose_k(n, TARGET_CLUSTER_SIZE, K_MIN, K_MAX)
    with threadpool_limits(limits=1, user_api="blas"):
        started = time.perf_counter()
        centres = _sampled_kmeans_plus_plus(x, k, SEED)
        seeding_s = time.perf_counter() - started
        full = n <= 100_000
        model = KMeans(n_clusters=k, init=centres, n_init=1, max_iter=LARGE_MAX_ITER if full else iterations,
                       tol=1e-4 if full else 0.0, random_state=SEED)
        started = time.perf_counter()
        model.fit(x)
        lloyd_s = time.perf_counter() - started
    return {"n": n, "k": k, "vectors_mib": round(x.nbytes / 2**20, 1), "seeding_s": round(seeding_s, 2),
            "lloyd_iterations": int(model.n_iter_), "lloyd_s": round(lloyd_s, 2),
            "seconds_per_iteration": round(lloyd_s / model.n_iter_, 3),
            "converged": full and model.n_iter_ < LARGE_MAX_ITER,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process of one size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.iterations)))
        return 0

    sizes = []
    for n in sorted(args.sizes):
        load = os.getloadavg()[0]
        child = subprocess.run([sys.executable, __file__, "--one", str(n), "--iterations", str(args.iterations)],
                               capture_output=True, text=True, cwd=ROOT, check=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        result["load_before"] = round(load, 2)
        sizes.append(result)
        print(json.dumps(result), flush=True)

    converged = next(s for s in sizes if s["n"] == min(args.sizes))
    projections = {}
    for n in (1_000_000, 10_000_000):
        # Per-iteration cost grows with n x k (k capped at K_MAX); scaled from the largest size measured.
        largest = max(sizes, key=lambda s: s["n"])
        k = min(K_MAX, max(K_MIN, round(n / TARGET_CLUSTER_SIZE)))
        per_iteration = largest["seconds_per_iteration"] * (n * k) / (largest["n"] * largest["k"])
        projections[str(n)] = {
            "k": k,
            "vectors_gib": round(n * DIM * 4 / 2**30, 2),
            "lloyd_s": round(per_iteration * converged["lloyd_iterations"], 0),
            "seconds_per_iteration": round(per_iteration, 1),
            "measured": any(s["n"] == n for s in sizes),
            # The fit holds the vectors, sklearn's float32 working copy is the same array, plus labels and
            # distances; the peak measured at the largest size, scaled by n.
            "peak_rss_gib": round(largest["peak_rss_mib"] * n / largest["n"] / 1024, 1),
        }
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "sizes": sizes,
           "iterations_to_converge_at_100k": converged["lloyd_iterations"], "projections": projections}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(projections, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
