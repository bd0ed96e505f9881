"""Evaluations behind `clio eval …`: each module registers one subcommand and prints one JSON object.

Modules import heavy libraries (torch, sentence-transformers, Dagster) inside functions, so `clio --help`
stays fast."""
