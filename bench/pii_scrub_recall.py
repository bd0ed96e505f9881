"""Leak rate of the offline PII scrubber on labelled synthetic PII (presidio-research data).

A labelled span counts as leaked when its exact string still occurs in `scrub(text)[0]`.
Usage: python bench/pii_scrub_recall.py [DATA_DIR]   (default: ../shared/data/pii_presidio_synth)
Prints JSON: per label {spans, leaked, recall} plus grouped labels and timing.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clio_dagster.core.pii import scrub  # noqa: E402

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "pii_presidio_synth"
GROUPS = {
    "STREET_ADDRESS": "ADDRESS",
    "ADDRESS": "ADDRESS",
    "LOCATION": "LOCATION/GPE",
    "GPE": "LOCATION/GPE",
}
REPORTED = [
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "ADDRESS", "IP_ADDRESS",
    "US_SSN", "IBAN_CODE", "LOCATION/GPE", "ORGANIZATION",
]


def measure(data_dir: Path) -> dict:
    total: Counter[str] = Counter()
    leaked: Counter[str] = Counter()
    n_records = 0
    chars = 0
    elapsed = 0.0
    for path in sorted(data_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            text = rec["text"]
            t0 = time.perf_counter()
            scrubbed = scrub(text)[0]
            elapsed += time.perf_counter() - t0
            n_records += 1
            chars += len(text)
            for span in rec.get("spans", []):
                value = text[span["start"] : span["end"]]
                if not value.strip():
                    continue
                label = GROUPS.get(span["label"], span["label"])
                total[label] += 1
                if value in scrubbed:
                    leaked[label] += 1
    labels = REPORTED + sorted(set(total) - set(REPORTED))
    return {
        "data_dir": str(data_dir),
        "records": n_records,
        "chars": chars,
        "scrub_seconds": round(elapsed, 3),
        "by_label": {
            lab: {
                "spans": total[lab],
                "leaked": leaked[lab],
                "recall": round(1 - leaked[lab] / total[lab], 4) if total[lab] else None,
            }
            for lab in labels
            if total[lab]
        },
    }


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    print(json.dumps(measure(target), indent=2, ensure_ascii=False))
