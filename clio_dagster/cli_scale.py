"""Scale-out commands: `clio lake …` (create both lakes once, before any run; housekeeping) and `clio worker`
(a Celery worker that runs steps of the runs of this deployment)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clio_dagster.settings import SettingsError, load_settings


def _lake_warehouse():
    from clio_dagster.lake import LakeWarehouse, warehouse_for

    settings = load_settings()
    if settings.storage != "ducklake":
        raise SettingsError("`clio lake` needs CLIO_STORAGE=ducklake and the lakes' settings (README: Scaling out).")
    store = warehouse_for(settings)
    assert isinstance(store, LakeWarehouse)
    return settings, store


def _cmd_init(args: argparse.Namespace, out=None) -> int:
    out = out or sys.stdout
    _, store = _lake_warehouse()
    for database in ("private", "public"):
        print(store.init(database), file=out)
    return 0


def _cmd_housekeep(args: argparse.Namespace, out=None) -> int:
    from clio_dagster.lake import housekeep

    out = out or sys.stdout
    settings, store = _lake_warehouse()
    retention = settings.lake_retention_days if args.retention_days is None else args.retention_days
    for database in ("private", "public"):
        done = housekeep(store, database, retention)
        print(done.summary(), file=out)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    """Start one Celery worker (in the foreground) with the executor's own config: `dagster-celery worker start`."""
    import os
    import shutil

    import yaml

    from clio_dagster.executors import celery_config, prepare_celery_folders

    settings = load_settings()
    if settings.executor != "celery":
        raise SettingsError("`clio worker` runs steps for CLIO_EXECUTOR=celery; set it (and CLIO_CELERY_BROKER) first.")
    if not os.environ.get("DAGSTER_HOME"):
        raise SettingsError("`clio worker` needs DAGSTER_HOME: the instance (PostgreSQL) whose runs it serves.")
    prepare_celery_folders(settings)
    config_path = os.path.join(os.environ["DAGSTER_HOME"], f"celery-worker-{args.name}.yaml")
    with open(config_path, "w", encoding="utf-8") as fh:
        yaml.safe_dump({"execution": {"config": celery_config(settings)}}, fh)
    # The venv's dagster-celery and the `celery` it starts, without an activated venv.
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    command = shutil.which("dagster-celery") or "dagster-celery"
    os.execv(command, [command, "worker", "start", "-A", "dagster_celery.app", "-y", config_path,
                       "-n", args.name, "--loglevel", args.loglevel])
    return 0  # not reached: the worker replaces this process


def _cmd_services(args: argparse.Namespace) -> int:
    from clio_dagster import local_services

    return local_services.main([args.action, "--folder", args.folder])


def register(sub: argparse._SubParsersAction) -> None:
    services = sub.add_parser("services", help="start/stop PostgreSQL and an S3 emulator for trying the lake mode "
                                               "on one machine (prints the settings to export)")
    services.add_argument("action", choices=["start", "stop"])
    services.add_argument("--folder", default=".clio-services", help="where they keep their data")
    services.set_defaults(func=_cmd_services)
    worker = sub.add_parser("worker", help="start a Celery worker for CLIO_EXECUTOR=celery (foreground)")
    worker.add_argument("--name", default="clio", help="worker name (unique per machine)")
    worker.add_argument("--loglevel", default="WARNING")
    worker.set_defaults(func=_cmd_worker)
    lake = sub.add_parser("lake", help="DuckLake storage (CLIO_STORAGE=ducklake): create catalogs, housekeeping")
    commands = lake.add_subparsers(dest="lake_command", required=True)
    init = commands.add_parser("init", help="create both lakes' catalogs and tables (idempotent); run once before runs")
    init.set_defaults(func=_cmd_init)
    keep = commands.add_parser("housekeep", help="merge files, expire old snapshots, delete unreferenced files")
    keep.add_argument("--retention-days", type=int, help="override CLIO_LAKE_RETENTION_DAYS")
    keep.set_defaults(func=_cmd_housekeep)
