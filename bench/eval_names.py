"""The headline reconstruction figure: categories recovered from the published names, for every labelled set.

    .venv/bin/python bench/eval_names.py [--shared-data ../shared/data] [--sets NAME ...] [--out bench/results/names.json]

Each set runs `clio eval reconstruct --assign names` (the same function) with the DEFAULT settings, offline:
the pipeline's own steps from ingest to the public DB, then the judge (all-MiniLM-L6-v2) matches each published
base cluster's "name. description" to the category names (and sub-category names where the set has two
levels). Accuracy counts every item, an item in an unpublished cluster as wrong. Large sets are subsampled
(seed 0, sizes below). Writes a JSON result and the `names` section of BENCHMARKS.md; with --sets only those
sets run and the previous results of the others are kept. The headline (that section and the README's table)
says "default settings", so a run that changes them (a `CLIO_*` variable, a clio.toml, or --out elsewhere, as
an experiment does) writes its JSON only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import update_section, write_result  # noqa: E402
from bench.eval_reconstruct import DataSetRun  # noqa: E402

SECTION_START = "<!-- names:start -->"
SECTION_END = "<!-- names:end -->"
SEED = 0


@dataclass(frozen=True)
class NamedSet:
    key: str
    run: DataSetRun

    @property
    def title(self) -> str:
        return self.run.title

    def command(self) -> str:
        return " ".join(self.run.data_arguments() + ["--backend offline"])


def _set(key: str, title: str, folder: str, **fields) -> NamedSet:
    return NamedSet(key, DataSetRun(title, folder, **fields))


SETS = (
    _set("arena_hard", "Arena-Hard v2 prompts, English (3 categories)", "arena_hard_v2"),
    _set("wildchat_ru", "WildChat hard prompts, Russian (12 task types)", "wildchat_hard_ru"),
    _set("belle", "BELLE eval, Chinese (10 task types)", "belle_eval_zh"),
    _set("alignbench", "AlignBench, Chinese (8 categories, 36 sub-categories)", "alignbench_zh",
             label="subcategory", top="label"),
    _set("clinc150", "CLINC150 domains (10; intents as sub-categories)", "clinc150", top="domain",
             exclude=("oos",), limit=3000),
    _set("hwu64", "HWU64 scenarios (18; intents as sub-categories)", "hwu64", top="scenario", limit=3000),
    _set("banking77", "Banking77 intents (77)", "banking77", limit=3000),
    _set("stackoverflow", "StackOverflow titles (20 tags)", "stackoverflow_titles", limit=3000),
    _set("sib200", "SIB-200 topics (7, 20 languages)", "sib200", limit=4000),
    _set("xsid", "xSID domains (9; intents as sub-categories, 17 language variants)", "xsid", top="domain",
             limit=3000),
)


def run(spec: NamedSet, shared: Path) -> dict:
    from clio_dagster.evaluation.reconstruct import load_labelled_set, reconstruct_names
    from clio_dagster.settings import load_settings

    settings = load_settings(llm_backend="offline", seed=SEED)
    data = load_labelled_set(shared / spec.run.folder, label=spec.run.label, top=spec.run.top,
                             exclude=spec.run.exclude, limit=spec.run.limit, seed=SEED)
    result = reconstruct_names(data, settings)
    result.update(key=spec.key, title=spec.title, command=spec.command())
    return result


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _worst(run_: dict) -> str:
    worst = run_.get("worst_language")
    return f"{_pct(worst['accuracy'])} ({worst['language']})" if worst else "–"


def markdown(runs: dict[str, dict]) -> str:
    lines = [
        SECTION_START,
        "## Reconstruction judged by the published names (the headline figure)",
        "",
        ("`.venv/bin/python bench/eval_names.py`, default settings, offline backend, on "
         f"{platform.machine()} with {os.cpu_count()} cores. Each text is a one-turn conversation of its own user; "
         "the pipeline runs from ingest to the public DB (thresholds and auditor included); the judge "
         "(all-MiniLM-L6-v2, fixed) gives each published base cluster the category whose name (or sub-category "
         "name) is nearest its `name. description`. Accuracy counts every item; items in unpublished clusters "
         "count as wrong. *ceiling*: the accuracy if every published base cluster were named as its most common "
         "category, the most any names could reach on that clustering. *generic*: share of published "
         "conversations under a generic name, by level."),
        "",
        "| data set | n | chance | accuracy | ceiling | coverage | worst language | generic (levels 0/1/2) | embedder | wall s |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for spec in SETS:
        run_ = runs.get(spec.key)
        if run_ is None:
            continue
        worst_text = _worst(run_)
        generic = " / ".join(_pct(v) for _, v in sorted(run_["generic_share"].items()))
        lines.append(f"| {spec.title} | {run_['n']} | {_pct(run_['chance_accuracy'])} | **{_pct(run_['accuracy'])}** "
                     f"| {_pct(run_.get('clustering_ceiling'))} | {_pct(run_['coverage'])} | {worst_text} | {generic} | {run_['embedding_model']}"
                     f"{' (language-neutral)' if run_['language_neutral'] else ''} | {run_['seconds']:.0f} |")
    lines += ["", "Largest published base clusters' names, per set:", ""]
    for spec in SETS:
        if spec.key in runs:
            lines.append(f"- {spec.title}: " + "; ".join(f"“{name}”" for name in runs[spec.key]["examples"][:5]))
    lines += ["", "Commands (one JSON object each):", ""]
    lines += [f"    {spec.command()}" for spec in SETS if spec.key in runs]
    lines.append(SECTION_END)
    return "\n".join(lines)


README_START = "<!-- names-headline:start -->"
README_END = "<!-- names-headline:end -->"


def readme_table(runs: dict[str, dict]) -> str:
    """The headline figures as the README shows them (BENCHMARKS.md has the full table)."""
    lines = [README_START, "| data set | accuracy | ceiling | worst language |", "|---|---:|---:|---|"]
    for spec in SETS:
        run_ = runs.get(spec.key)
        if run_ is not None:
            lines.append(f"| {spec.title} | **{_pct(run_['accuracy'])}** | {_pct(run_.get('clustering_ceiling'))} "
                         f"| {_worst(run_)} |")
    lines.append(README_END)
    return "\n".join(lines)


def set_arguments(description: str, default_out: Path) -> argparse.Namespace:
    """--shared-data, --sets (keys of SETS; all by default) and --out, as every script over these sets takes them."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sets", nargs="*", choices=[s.key for s in SETS], default=None)
    parser.add_argument("--out", type=Path, default=default_out)
    return parser.parse_args()


# Set by this script itself; it changes no setting that the names depend on.
HEADLINE_NEUTRAL_VARIABLES = frozenset({"CLIO_HMAC_SECRET"})


def headline_blockers(out: Path, default_out: Path, environ: dict[str, str], workdir: Path) -> list[str]:
    """Why this run may not rewrite the headline figures, which are the default settings' (empty: it may)."""
    reasons = [f"{name} is set" for name in sorted(environ)
               if name.startswith("CLIO_") and name not in HEADLINE_NEUTRAL_VARIABLES]
    if (workdir / "clio.toml").exists():
        reasons.append(f"{workdir / 'clio.toml'} is read")
    if out.resolve() != default_out.resolve():
        reasons.append(f"--out {out} is not {default_out}")
    return reasons


def main() -> None:
    default_out = ROOT / "bench" / "results" / "names.json"
    args = set_arguments(__doc__, default_out)
    blockers = headline_blockers(args.out, default_out, dict(os.environ), Path.cwd())
    os.environ.setdefault("CLIO_HMAC_SECRET", "bench-secret")
    previous = json.loads(args.out.read_text(encoding="utf-8"))["runs"] if args.out.exists() and args.sets else {}
    runs = dict(previous)
    for spec in SETS:
        if args.sets and spec.key not in args.sets:
            continue
        started = time.perf_counter()
        runs[spec.key] = run(spec, args.shared_data)
        print(json.dumps({k: runs[spec.key][k] for k in ("title", "accuracy", "clustering_ceiling", "coverage", "generic_share")})
              + f" {time.perf_counter() - started:.0f}s", flush=True)
    write_result({"runs": runs}, args.out, None if blockers else markdown(runs), SECTION_START, SECTION_END)
    if blockers:
        print(f"BENCHMARKS.md and README.md left as they are ({'; '.join(blockers)}).", file=sys.stderr)
    else:
        update_section(readme_table(runs), README_START, README_END, path=ROOT / "README.md")


if __name__ == "__main__":
    main()
