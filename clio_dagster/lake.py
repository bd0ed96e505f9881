"""The scale-out storage: the private and public databases as two DuckLakes (`CLIO_STORAGE=ducklake`).

Each lake keeps its catalog in its own PostgreSQL database, reached with its own credentials, and its data
(Parquet files) under its own path: an `s3://` prefix on S3-compatible storage or a folder. The public
readers (explorer, `clio show`) are given only the public lake's settings; nothing they hold opens the
private one.

Extensions come from PyPI wheels pinned with duckdb (`duckdb-extension-ducklake`, `-postgres-scanner`,
`-httpfs`), loaded from site-packages: nothing is downloaded at run time. Catalogs and tables are created
once, before any run, by `clio lake init` (two processes creating one catalog at once collide in
PostgreSQL); a connection refuses a catalog it does not know. Writes stay delete-then-insert of one
partition in one transaction; one writer per partition is the run queue's job (a per-partition tag
limit in `deploy/lake/dagster.yaml`), since two writers replacing one day both commit.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

import duckdb

from clio_dagster.storage import Database, Warehouse, WarehouseError, WriteConflict, load_sql, transaction

if TYPE_CHECKING:
    from clio_dagster.settings import ClioSettings

# The lake's table layout; `clio lake init` records it, and refuses a catalog holding another.
LAKE_SCHEMA_VERSION = 1
EXTENSIONS_VERSION = "v1.5.5"
_SCHEMA_FILES: dict[Database, tuple[str, ...]] = {
    "private": ("private_schema.sql", "summary_embeddings_schema.sql", "asset_inputs_schema.sql",
                "safety_schema.sql"),
    "public": ("public_schema.sql", "public_views.sql"),
}


@dataclass(frozen=True)
class ObjectStore:
    """S3-compatible storage one lake's data lives on, with that lake's own key."""

    key_id: str
    secret: str
    endpoint: str | None = None  # host[:port]; None is AWS
    region: str = "us-east-1"
    use_ssl: bool = True
    url_style: Literal["vhost", "path"] = "vhost"


@dataclass(frozen=True)
class LakeLocation:
    """Where one lake lives: its catalog (a libpq connection string or postgresql:// URL, with this lake's own
    credentials) and its data path (`s3://bucket/prefix/` or a folder)."""

    catalog: str
    data_path: str
    object_store: ObjectStore | None = None

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    def describe(self) -> str:
        """The location without credentials, for messages and metadata."""
        return f"catalog {_catalog_without_secrets(self.catalog)}, data {self.data_path}"


def _catalog_without_secrets(catalog: str) -> str:
    if "://" in catalog:
        url = urlparse(catalog)
        host = url.hostname or "local socket"
        return f"{url.scheme}://{url.username or ''}@{host}{':' + str(url.port) if url.port else ''}{url.path}"
    return re.sub(r"password\s*=\s*\S+", "password=***", catalog)


def extension_path(name: str) -> Path:
    """The extension file that the `duckdb-extension-<name>` wheel carries for the pinned duckdb."""
    module_name = f"duckdb_extension_{name}"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise WarehouseError(
            f"The DuckDB extension {name!r} is not installed; lake storage needs `pip install 'clio-dagster[lake]'` "
            f"(it brings duckdb-extension-{name.replace('_', '-')} for duckdb {duckdb.__version__})."
        ) from None
    found = sorted(Path(module.__file__).parent.rglob(f"{name}.duckdb_extension"))
    wanted = [p for p in found if EXTENSIONS_VERSION in p.parts]
    if not wanted:
        raise WarehouseError(f"duckdb-extension-{name} carries no build for DuckDB {EXTENSIONS_VERSION}; "
                             f"reinstall clio-dagster[lake] so that duckdb and its extensions match.")
    return wanted[0]


def _redact(message: str, location: LakeLocation) -> str:
    """A DuckDB or PostgreSQL message without this lake's credentials, and without quoted values (row data)."""
    secrets = [location.catalog]
    if location.object_store is not None:
        secrets += [location.object_store.secret, location.object_store.key_id]
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = re.sub(r"password\s*=\s*\S+", "password=***", message)
    return re.sub(r"'[^']*'|\"[^\"]*\"", "<value>", message.splitlines()[0] if message else "")


def _explain(database: Database, location: LakeLocation, exc: duckdb.Error) -> WarehouseError:
    text = str(exc)
    lowered = text.lower()
    where = f"the {database} lake ({location.describe()})"
    if "permission denied" in lowered or "password authentication failed" in lowered or "access denied" in lowered \
            or "403" in lowered:
        return WarehouseError(f"Access to {where} was refused: check this lake's own credentials "
                              f"(CLIO_LAKE_{database.upper()}_CATALOG and its object-storage key).")
    if "could not connect" in lowered or "connection refused" in lowered or "no such file" in lowered:
        return WarehouseError(f"Cannot reach the catalog of {where}: is PostgreSQL running there?")
    if "create a new ducklake instance" in lowered:
        return WarehouseError(f"The catalog of {where} is empty: run `clio lake init` once, before any run.")
    if "no space left" in lowered:
        return WarehouseError(f"Disk full while writing {where}: free space and re-run the partition.")
    if "conflict" in lowered:
        return WriteConflict(f"Another writer changed {where} at the same time ({_redact(text, location)}). "
                              "One run per partition: use the queued run coordinator's per-partition limit "
                              "(deploy/lake/dagster.yaml), then re-run.")
    return WarehouseError(f"DuckLake error on {where}: {type(exc).__name__}: {_redact(text, location)}")


# (process id, lake location, lake, read-only) -> the attached DuckDB that `LakeWarehouse` sessions are cursors of.
_ATTACHED: dict[tuple, duckdb.DuckDBPyConnection] = {}


def close_attached() -> None:
    """Close this process's attached lakes (after their catalogs were dropped and recreated: `clio services`)."""
    while _ATTACHED:
        _ATTACHED.popitem()[1].close()


class LakeWarehouse:
    """The same interface as `storage.Warehouse` (connect / reader), on two DuckLakes. Holds only the
    locations it is given: the explorer gets one with the public lake alone."""

    storage = "ducklake"

    def __init__(self, private: LakeLocation | None, public: LakeLocation | None):
        self.locations: dict[Database, LakeLocation | None] = {"private": private, "public": public}

    def _location(self, database: Database) -> LakeLocation:
        location = self.locations[database]
        if location is None:
            raise WarehouseError(f"No {database} lake is configured here: set CLIO_LAKE_{database.upper()}_CATALOG "
                                 f"and CLIO_LAKE_{database.upper()}_DATA.")
        return location

    def describe(self, database: Database) -> str:
        return self._location(database).describe()

    def _open(self, database: Database, *, read_only: bool, create: bool = False) -> duckdb.DuckDBPyConnection:
        """A new in-process DuckDB with this lake attached as its default catalog."""
        location = self._location(database)
        con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        try:
            for name in ("ducklake", "postgres_scanner") + (("httpfs",) if location.on_s3 else ()):
                con.execute(f"LOAD '{extension_path(name)}'")
            if location.on_s3:
                con.execute(_s3_secret(location))
            options = ["READ_ONLY"] if read_only else []
            if create:
                options.append(f"DATA_PATH '{_quoted(location.data_path)}'")
            suffix = f" ({', '.join(options)})" if options else ""
            con.execute(f"ATTACH 'ducklake:postgres:{_quoted(location.catalog)}' AS clio_{database}{suffix}")
            con.execute(f"USE clio_{database}")
            if not create:
                _check_version(con, database, location)
        except duckdb.Error as exc:
            con.close()
            raise _explain(database, location, exc) from None
        except BaseException:
            con.close()
            raise
        return con

    def _attached(self, database: Database, read_only: bool) -> duckdb.DuckDBPyConnection:
        """This process's DuckDB with the lake attached, opened once: loading the extensions, the secret and the
        catalog's ATTACH cost ~0.4 s, every step opens several connections, and each one is a cursor of this
        one (a connection of its own, sharing the attached lake; every transaction reads the catalog's latest
        snapshot). Keyed by process: a forked worker opens its own."""
        key = (os.getpid(), self._location(database), database, read_only)
        con = _ATTACHED.get(key)
        if con is None:
            con = _ATTACHED[key] = self._open(database, read_only=read_only)
        return con

    def _cursor(self, database: Database, read_only: bool) -> duckdb.DuckDBPyConnection:
        """A new connection to the attached lake, its schema version checked; a lake attached before its
        catalog went away (PostgreSQL restarted) is attached afresh once."""
        location = self._location(database)
        for attempt in range(2):
            base = self._attached(database, read_only)
            con = base.cursor()
            try:
                con.execute(f"USE clio_{database}")
                _check_version(con, database, location)
                return con
            except duckdb.Error as exc:
                con.close()
                _ATTACHED.pop((os.getpid(), location, database, read_only), None)
                base.close()
                if attempt:
                    raise _explain(database, location, exc) from None
            except BaseException:
                con.close()
                raise
        raise AssertionError("unreachable")

    @contextmanager
    def _session(self, database: Database, *, read_only: bool, create: bool = False
                 ) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open(database, read_only=read_only, create=True) if create else \
            self._cursor(database, read_only)
        try:
            yield con
        except duckdb.Error as exc:
            raise _explain(database, self._location(database), exc) from None
        finally:
            con.close()

    @contextmanager
    def connect(self, database: Database) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the lake as the default catalog; no file lock (DuckLake commits are
        transactions in PostgreSQL), but the catalog must have been created by `clio lake init`."""
        with self._session(database, read_only=False) as con:
            yield con

    @contextmanager
    def reader(self, database: Database) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (a consistent snapshot of the lake)."""
        with self._session(database, read_only=True) as con:
            yield con

    def open_reader(self, database: Database) -> duckdb.DuckDBPyConnection:
        """`reader` for callers that close the connection themselves (the explorer's page builders)."""
        return self._open(database, read_only=True)

    def init(self, database: Database) -> str:
        """Create the lake's catalog and tables, or check an existing one: idempotent; refuses a catalog
        written by another schema version. Returns what it did, for the user."""
        with self._session(database, read_only=False, create=True) as con:
            version = _schema_version(con)
            if version is not None:
                _check_version(con, database, self._location(database))
                return f"{database} lake already initialised (schema version {version}): {self.describe(database)}"
            with transaction(con):
                for name in _SCHEMA_FILES[database]:
                    # Lakes store vectors as FLOAT[] (fixed-size arrays are not a DuckLake type).
                    con.execute(load_sql(name).replace("FLOAT[{dim}]", "FLOAT[]"))
                for (table,) in con.execute(
                        "SELECT table_name FROM duckdb_columns() WHERE database_name = current_database() "
                        "AND column_name = 'partition_date' AND table_name IN "
                        "(SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()) "
                        "ORDER BY 1").fetchall():
                    con.execute(f"ALTER TABLE {table} SET PARTITIONED BY (partition_date)")
                con.execute("CREATE TABLE clio_schema (version INTEGER NOT NULL, lake VARCHAR NOT NULL, "
                            "created_at TIMESTAMP NOT NULL)")
                con.execute("INSERT INTO clio_schema VALUES (?, ?, ?)",
                            [LAKE_SCHEMA_VERSION, database, datetime.now(timezone.utc).replace(tzinfo=None)])
            return f"{database} lake initialised (schema version {LAKE_SCHEMA_VERSION}): {self.describe(database)}"


def _quoted(value: str) -> str:
    return value.replace("'", "''")


def _s3_secret(location: LakeLocation) -> str:
    store = location.object_store
    if store is None:
        raise WarehouseError(f"The lake's data path {location.data_path} is on S3, but no key is set for it "
                             "(CLIO_LAKE_<PRIVATE|PUBLIC>_S3_KEY_ID and _S3_SECRET).")
    bucket = urlparse(location.data_path).netloc
    parts = [f"TYPE s3, KEY_ID '{_quoted(store.key_id)}', SECRET '{_quoted(store.secret)}'",
             f"REGION '{_quoted(store.region)}'", f"URL_STYLE '{store.url_style}'",
             f"USE_SSL {'true' if store.use_ssl else 'false'}", f"SCOPE 's3://{_quoted(bucket)}'"]
    if store.endpoint:
        parts.append(f"ENDPOINT '{_quoted(store.endpoint)}'")
    return f"CREATE TEMPORARY SECRET lake_data ({', '.join(parts)})"


def _schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                         "AND table_name = 'clio_schema'").fetchone()[0]
    if not exists:
        return None
    row = con.execute("SELECT max(version) FROM clio_schema").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _check_version(con: duckdb.DuckDBPyConnection, database: Database, location: LakeLocation) -> None:
    version = _schema_version(con)
    if version is None:
        raise WarehouseError(f"The {database} lake ({location.describe()}) has no clio tables yet: "
                             "run `clio lake init` once, before any run.")
    if version != LAKE_SCHEMA_VERSION:
        raise WarehouseError(f"The {database} lake ({location.describe()}) holds clio schema version {version}; "
                             f"this clio knows version {LAKE_SCHEMA_VERSION} only. Use a clio release that "
                             "matches the lake, or a new catalog.")


def _secret(value) -> str:
    return value.get_secret_value() if value is not None else ""


def lake_location(settings: ClioSettings, database: Database) -> LakeLocation:
    """One lake's location and credentials from the settings (read where the run executes, never from run
    config)."""
    data_path = getattr(settings, f"lake_{database}_data")
    store = None
    if data_path.startswith("s3://"):
        store = ObjectStore(_secret(getattr(settings, f"lake_{database}_s3_key_id")),
                            _secret(getattr(settings, f"lake_{database}_s3_secret")),
                            settings.lake_s3_endpoint, settings.lake_s3_region, settings.lake_s3_use_ssl,
                            settings.lake_s3_url_style)
    return LakeLocation(_secret(getattr(settings, f"lake_{database}_catalog")), data_path, store)


def warehouse_for(settings: ClioSettings) -> Warehouse | LakeWarehouse:
    """The pipeline's storage: the two local DuckDB files, or the two lakes."""
    if settings.storage == "ducklake":
        return LakeWarehouse(lake_location(settings, "private"), lake_location(settings, "public"))
    return Warehouse(settings.private_db, settings.public_db, settings.lock_timeout_s)


def public_source(settings: ClioSettings) -> Path | LakeWarehouse:
    """What the public readers (explorer, `clio show`) open: the public DB file, or the public lake with the
    public credentials alone."""
    if settings.storage == "ducklake":
        return LakeWarehouse(None, lake_location(settings, "public"))
    return settings.public_db


@dataclass(frozen=True)
class LakeFiles:
    """The files a lake keeps on its data path: live data and delete files, and those of old snapshots."""

    files: int
    bytes: int


def lake_files(con: duckdb.DuckDBPyConnection, database: Database) -> LakeFiles:
    """Every file the catalog knows on the data path: those of the current and older snapshots, and those
    waiting for deletion."""
    meta = f"__ducklake_metadata_clio_{database}"
    files, size = con.execute(
        f"SELECT count(*), coalesce(sum(file_size_bytes), 0) FROM ("
        f"SELECT file_size_bytes FROM {meta}.ducklake_data_file UNION ALL "
        f"SELECT file_size_bytes FROM {meta}.ducklake_delete_file)").fetchone()
    scheduled = con.execute(f"SELECT count(*) FROM {meta}.ducklake_files_scheduled_for_deletion").fetchone()[0]
    return LakeFiles(int(files) + int(scheduled), int(size))


@dataclass(frozen=True)
class Housekeeping:
    database: Database
    before: LakeFiles
    after: LakeFiles
    retention_days: int

    def summary(self) -> str:
        return (f"{self.database} lake: {self.before.files} → {self.after.files} files, {self.before.bytes:,} → "
                f"{self.after.bytes:,} bytes (snapshots older than {self.retention_days} days expired)")


def housekeep(warehouse: LakeWarehouse, database: Database, retention_days: int) -> Housekeeping:
    """Merge small files, expire snapshots older than `retention_days`, and delete the files no snapshot
    needs any more: every partition replace leaves its old Parquet files behind until this runs."""
    with warehouse.connect(database) as con:
        before = lake_files(con, database)
        catalog = f"clio_{database}"
        con.execute(f"CALL ducklake_merge_adjacent_files('{catalog}')")
        con.execute(f"CALL ducklake_expire_snapshots('{catalog}', older_than => now() - to_days(?))",
                    [retention_days])
        con.execute(f"CALL ducklake_cleanup_old_files('{catalog}', cleanup_all => true)")
        after = lake_files(con, database)
    return Housekeeping(database, before, after, retention_days)
