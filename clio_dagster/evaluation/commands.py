"""`clio eval <name>`: every module of this package that defines `register(subparsers)` adds one subcommand."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import clio_dagster.evaluation as package


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluations: reconstruction, privacy leakage, stability, peer comparison")
    evals = parser.add_subparsers(dest="evaluation", required=True)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "register") and module is not importlib.import_module(__name__):
            module.register(evals)
    for evaluation in evals.choices.values():  # every evaluation runs long stages (the pipeline, or its own loops)
        evaluation.add_argument("--quiet", action="store_true",
                                help="no progress bars or lines while stages run (results and errors still print)")
