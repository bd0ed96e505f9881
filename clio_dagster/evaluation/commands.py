"""`clio eval <name>`: one subcommand per evaluation module, each exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib

# Each module defines `register(subparsers)`, adding its parser with `set_defaults(func=...)`.
EVALUATIONS = ("reconstruct", "privacy", "stability", "peers")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluations: reconstruction, privacy leakage, stability, peer comparison")
    evals = parser.add_subparsers(dest="evaluation", required=True)
    for name in EVALUATIONS:
        module = importlib.import_module(f"clio_dagster.evaluation.{name}")
        module.register(evals)
