"""The explorer: self-contained static HTML pages (one per partition, plus an index) built from the public
DuckDB file only. Pure Python + files in `static/`; no Dagster imports (the asset lives in
`clio_dagster.assets.explorer`, the server in `clio explore`)."""

from clio_dagster.explorer.render import build_index, build_partition_page

__all__ = ["build_index", "build_partition_page"]
