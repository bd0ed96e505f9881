"""Pure algorithms and data models: no Dagster imports, unit-tested directly."""
