"""The scale-out deployment on one machine: embedded PostgreSQL (Dagster's instance and both lakes' catalogs),
an S3 emulator enforcing per-lake keys, two DuckLakes, two Celery workers and the Dagster daemon with the
shipped run queue (deploy/lake/dagster.yaml). The real assets run offline on sample days, two runs at a time,
each day's facets and embeddings in two shards.
Also: the Kubernetes shape (deploy/k8s/) loads and the job validates on k8s_job_executor."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb
import psutil
import pytest
import yaml

from clio_dagster import local_services
from clio_dagster.lake import LakeLocation, LakeWarehouse, lake_location, public_source, warehouse_for
from clio_dagster.settings import load_settings
from clio_dagster.storage import PUBLIC_TABLES, TOPIC_TABLES, WarehouseError, replace_partition, transaction
from tests.conftest import FAST_TEST_EMBEDDER, ROOT

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
DAYS = ["2023-02-04", "2023-02-05", "2023-02-06"]
# Conversations per sample day: enough for published clusters at the default thresholds, few enough that the
# runs' own work does not hide the deployment's.
PER_DAY = 200
HMAC = "scale-out-test-secret-0123456789"


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    folder = tmp_path_factory.mktemp("services")
    running = local_services.start(folder)
    try:
        yield running
    finally:
        local_services.stop(folder)


@pytest.fixture
def lakes(services, monkeypatch):
    """Empty lakes, and this process's settings pointing at them."""
    local_services.reset(services)
    for key, value in services.environment().items():
        monkeypatch.setenv(key, value)
    return services


def _members(n: int):
    import pyarrow as pa

    day = date(2024, 1, 1)
    return pa.table({"partition_date": [day] * n, "conversation_id": [f"c{i}" for i in range(n)],
                     "cluster_id": list(range(n)), "distance": [0.5] * n})


def test_lake_init_is_idempotent_and_refuses_an_unknown_schema(lakes):
    store = warehouse_for(load_settings())
    with pytest.raises(WarehouseError, match="run `clio lake init`"):
        with store.connect("public"):
            pass
    assert "initialised (schema version 1)" in store.init("private")
    assert "already initialised" in store.init("private")
    with store.connect("private") as con:
        # Vectors of any dimension (DuckLake has no fixed-size arrays), the day as the partition key.
        assert con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = "
                           "'summary_embeddings' AND column_name = 'embedding'").fetchone()[0] == "FLOAT[]"
        con.execute("UPDATE clio_schema SET version = 99")
    with pytest.raises(WarehouseError, match="holds clio schema version 99; this clio knows version 1"):
        store.init("private")
    with pytest.raises(WarehouseError, match="holds clio schema version 99; this clio knows version 1"):
        with store.connect("private"):
            pass


def test_public_credentials_cannot_read_the_private_lake(lakes):
    settings = load_settings()
    store = warehouse_for(settings)
    for database in ("private", "public"):
        store.init(database)
    with store.connect("private") as con, transaction(con):
        replace_partition(con, "base_cluster_members", date(2024, 1, 1), _members(50))
    with store.reader("private") as con:  # the private lake's own credentials read it
        assert con.execute("SELECT count(*), sum(cluster_id) FROM base_cluster_members").fetchone() == (50, 1225)

    private, public = lake_location(settings, "private"), lake_location(settings, "public")
    public_role = lakes.catalog("private", as_lake="public")
    attempts = {
        "public role on the private catalog": LakeLocation(public_role, private.data_path, public.object_store),
        "public S3 key on the private data": LakeLocation(private.catalog, private.data_path, public.object_store),
    }
    for what, location in attempts.items():
        with pytest.raises(WarehouseError, match="was refused") as refused:
            with LakeWarehouse(location, None).reader("private") as con:
                con.execute("SELECT max(conversation_id), sum(distance) FROM base_cluster_members").fetchall()
        message = str(refused.value)
        for secret in (lakes.credentials["public"]["password"], lakes.credentials["private"]["password"],
                       lakes.credentials["public"]["s3_secret"]):
            assert secret not in message, what
    # What the explorer and `clio show` are given holds no private lake at all.
    with pytest.raises(WarehouseError, match="No private lake is configured here"):
        with public_source(settings).reader("private"):
            pass


def test_a_lake_attached_once_per_process_sees_other_processes_commits(lakes):
    from clio_dagster import lake

    store = warehouse_for(load_settings())
    for database in ("private", "public"):
        store.init(database)
    for _ in range(2):  # sessions are cursors of one attached lake per process and mode
        with store.reader("private") as con, store.connect("private") as writer:
            assert con.execute("SELECT count(*) FROM base_cluster_members").fetchone() == (0,)
            assert writer.execute("SELECT count(*) FROM base_cluster_members").fetchone() == (0,)
    assert sorted(key[2:] for key in lake._ATTACHED if key[0] == os.getpid()) == [("private", False),
                                                                                 ("private", True)]
    write = ("from datetime import date; from clio_dagster.lake import warehouse_for; "
             "from clio_dagster.settings import load_settings; from clio_dagster.storage import replace_partition, "
             "transaction; from tests.test_scale_out import _members\n"
             "with warehouse_for(load_settings()).connect('private') as con, transaction(con):\n"
             "    replace_partition(con, 'base_cluster_members', date(2024, 1, 1), _members(7))\n")
    subprocess.run([sys.executable, "-c", write], cwd=ROOT, check=True, env=os.environ)
    with store.reader("private") as con, store.connect("private") as writer:
        assert con.execute("SELECT count(*) FROM base_cluster_members").fetchone() == (7,)
        assert writer.execute("SELECT count(*) FROM base_cluster_members").fetchone() == (7,)


def _stage(home: Path) -> None:
    from clio_dagster.sample_data import stage_sample

    stage_sample(home / "landing")
    for day in os.listdir(home / "landing"):
        path = home / "landing" / day / "sample.jsonl"
        if day in DAYS:
            path.write_text("".join(path.read_text(encoding="utf-8").splitlines(True)[:PER_DAY]), encoding="utf-8")
        else:
            shutil.rmtree(path.parent)


def _spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    # Its own session, so that the whole group (dagster-celery's `celery` child included) can be stopped.
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_for_runs(instance, expected: int, timeout_s: float, logs: list[Path]) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        if len(runs) >= expected and all(run.is_finished for run in runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"runs not finished after {timeout_s:.0f}s: "
                         f"{[(r.tags.get('dagster/partition'), r.status.value) for r in instance.get_runs()]}\n"
                         f"{_tails(logs)}")


def _tails(logs: list[Path]) -> str:
    """What the workers and the daemon last said, so that a CI failure can be read from its report."""
    return "\n".join(f"--- {log.name}\n" + "".join(log.read_text(errors="replace").splitlines(True)[-15:])
                     for log in logs)


def _public_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in sorted(PUBLIC_TABLES | TOPIC_TABLES)}


def _run_locally(settings, out: dict) -> None:
    """Every daily asset of DAYS in this process on local DuckDB files; out["rows"]: the public tables."""
    import dagster as dg

    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.resources import build_resources
    from clio_dagster.runner import QUIET_RUN_CONFIG

    try:
        resources, instance = build_resources(settings), dg.DagsterInstance.ephemeral()
        for day in DAYS:
            assert dg.materialize(DAILY_ASSETS, partition_key=day, resources=resources, instance=instance,
                                  run_config=QUIET_RUN_CONFIG).success, day
        with duckdb.connect(str(settings.public_db), read_only=True) as con:
            out["rows"] = _public_rows(con)
    except BaseException as exc:  # reported by the test
        out["error"] = repr(exc)


def test_sample_days_on_two_lakes_with_celery_workers_two_runs_at_a_time(lakes, tmp_path, monkeypatch):
    import dagster as dg

    from clio_dagster.settings import ClioSettings

    monkeypatch.setenv("CLIO_HMAC_SECRET", HMAC)
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    _stage(home)
    dagster_home.mkdir()
    shutil.copy(ROOT / "deploy" / "lake" / "dagster.yaml", dagster_home)
    env = {**os.environ, **lakes.environment(), **FAST_TEST_EMBEDDER, "CLIO_HOME": str(home),
           "CLIO_HMAC_SECRET": HMAC, "DAGSTER_HOME": str(dagster_home), "CLIO_EXECUTOR": "celery",
           "CLIO_CELERY_BROKER": "filesystem://", "CLIO_CELERY_BACKEND": f"file://{tmp_path}/celery/results",
           "CLIO_CELERY_FOLDER": str(tmp_path / "celery"), "CLIO_DAY_SHARDS": "2", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([BIN / "clio", "lake", "init"], env=env, cwd=ROOT, check=True, capture_output=True)

    # The same days in one process on the local DuckDB files, meanwhile (the deployment's runs leave CPU idle
    # while they hand steps over): the public lake must hold the same rows.
    local = ClioSettings(home=tmp_path / "local", hmac_secret=HMAC, storage="duckdb")
    shutil.copytree(home / "landing", local.landing_dir)
    local_rows: dict = {}
    reference = threading.Thread(target=_run_locally, args=(local, local_rows))
    reference.start()

    logs = [tmp_path / "w1.log", tmp_path / "w2.log", tmp_path / "daemon.log"]
    started = [_spawn([BIN / "clio", "worker", "--name", log.stem], env, log) for log in logs[:2]]
    started.append(_spawn([BIN / "dagster-daemon", "run", "-m", "clio_dagster.definitions"], env, logs[2]))
    family: set[int] = set()
    try:
        # Every day once, and the first day again: the queue must never run two runs of one day at once.
        submissions = [subprocess.Popen([BIN / "dagster", "job", "backfill", "-m", "clio_dagster.definitions", "-j",
                                         "daily_job", "--partitions", partitions, "--noprompt"], env=env, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                       for partitions in (",".join(DAYS), DAYS[0])]
        for submission in submissions:
            assert submission.wait(timeout=120) == 0, submission.stderr.read()[-2000:]
        monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
        instance = dg.DagsterInstance.get()
        runs = _wait_for_runs(instance, expected=4, timeout_s=420, logs=logs)
        for process in started:
            family |= {p.pid for p in psutil.Process(process.pid).children(recursive=True)} | {process.pid}
        records = {r.dagster_run.run_id: r for r in instance.get_run_records()}

        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(DAYS + [DAYS[0]])
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 4, [r.status for r in runs]
        # Every step ran in a Celery worker, and both workers took steps.
        worker_of: dict[tuple[str, str], str] = {}
        for run in runs:
            steps = set()
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is not None and event.event_type_value == "STEP_START":
                    steps.add(event.step_key)
                if event is not None and event.event_type_value == "ENGINE_EVENT" and \
                        "in celery worker" in (event.message or ""):
                    worker = event.engine_event_data.metadata["Celery worker"].value.split("@")[0]
                    worker_of[(run.run_id, event.step_key)] = worker
            assert steps and steps <= {step for run_id, step in worker_of if run_id == run.run_id}
        assert set(worker_of.values()) == {"w1", "w2"}, _tails(logs)
        # The day's shards (CLIO_DAY_SHARDS=2) are steps of their own, and a day's two shards ran on both workers.
        shard_workers: dict[tuple[str, str], set[str]] = defaultdict(set)
        for (run_id, step), worker in worker_of.items():
            if "_shard_" in step:
                shard_workers[(run_id, step.rsplit("_", 1)[0])].add(worker)
        assert len(shard_workers) == 2 * len(runs), sorted(shard_workers)
        assert any(len(workers) == 2 for workers in shard_workers.values()), shard_workers
        # Two runs at a time, and never two on one partition.
        spans = sorted((records[r.run_id].start_time, records[r.run_id].end_time, r.tags["dagster/partition"])
                       for r in runs)
        overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if b[0] < a[1]]
        assert overlapping, "the queue never ran two days at once"
        assert all(a[2] != b[2] for a, b in overlapping), overlapping
        assert max(sum(1 for s in spans if s[0] <= t[0] < s[1]) for t in spans) <= 2
    finally:
        for process in started:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in started:
            process.wait(timeout=60)

    store = warehouse_for(load_settings())
    with store.reader("private") as con:
        per_day = con.execute("SELECT partition_date::VARCHAR, count(*), count(DISTINCT conversation_id) FROM facets "
                              "GROUP BY ALL ORDER BY 1").fetchall()
    assert per_day == [(day, PER_DAY, PER_DAY) for day in DAYS], per_day
    with store.reader("public") as con:
        lake_rows = _public_rows(con)

    # Privacy holds across processes too: no raw text or identifier in the workers' and daemon's logs or in the
    # explorer pages the lake run wrote.
    explorer_pages = [p for p in (home / "explorer").rglob("*") if p.is_file()]
    identifiers, texts = _staged_private_strings(home)
    for source in [*logs, *explorer_pages]:
        text = source.read_text(errors="replace")
        if source.suffix == ".html":  # the page's text and embedded data, not its markup (a sample prompt is HTML)
            text = html.unescape(re.sub(r"<[^>]*>", " ", text))
        assert _raw_text_in(text, identifiers, texts) == [], source.name
    assert any(p.suffix == ".html" for p in explorer_pages)

    reference.join(timeout=600)
    assert "rows" in local_rows, local_rows.get("error")
    local_rows = local_rows["rows"]
    assert lake_rows["published_clusters"] and lake_rows == local_rows

    # No process left behind: workers with their `celery` children, the daemon and the runs it launched (Celery
    # shuts down warm: give it its time).
    processes = []
    for pid in family:
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=60)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.cmdline() for p in alive]


def _staged_private_strings(home: Path) -> tuple[set[str], list[str]]:
    """Conversation and user ids, and every message text, of the staged days."""
    identifiers, texts = set(), []
    for path in sorted((home / "landing").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            identifiers |= {record["id"], record["user_id"]}
            texts += [message["content"] for message in record["messages"]]
    return identifiers, texts


def _raw_text_in(haystack: str, identifiers: set[str], texts: list[str]) -> list[str]:
    """Identifiers found in `haystack`, and the first run of 6 consecutive words (over 25 characters) of each raw
    text found there (test_pipeline's rule, with the haystack's windows in a set: logs are megabytes)."""
    words = re.findall(r"\w+", haystack.lower())
    windows = {" ".join(words[i : i + 6]) for i in range(max(0, len(words) - 5))}
    found = sorted(i for i in identifiers if i in haystack)
    for text in texts:
        words = re.findall(r"\w+", text.lower())
        found += [window for window in (" ".join(words[i : i + 6]) for i in range(max(0, len(words) - 5)))
                  if len(window) > 25 and window in windows][:1]
    return found


def test_kubernetes_shape_loads_and_the_job_validates(tmp_path):
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_k8s import K8sRunLauncher

    shutil.copy(ROOT / "deploy" / "k8s" / "dagster.yaml", tmp_path)
    config, _ = dagster_instance_config(str(tmp_path))
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    checked = validate_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in \
        config["concurrency"]["runs"]["tag_concurrency_limits"]

    values = yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text(encoding="utf-8"))
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher_fields = set(K8sRunLauncher.config_type().keys())
    snake = {key: "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
             for key in values["runLauncher"]["config"]["k8sRunLauncher"]}
    assert set(snake.values()) <= launcher_fields, set(snake.values()) - launcher_fields
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "clio_dagster.definitions"]
    queue = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in \
        queue["tagConcurrencyLimits"]

    env = {**os.environ, "CLIO_STORAGE": "ducklake", "CLIO_EXECUTOR": "k8s", "CLIO_EMBEDDING_DEVICE": "cuda",
           "CLIO_LAKE_PRIVATE_CATALOG": "host=pg dbname=clio_private user=clio_private",
           "CLIO_LAKE_PUBLIC_CATALOG": "host=pg dbname=clio_public user=clio_public",
           "CLIO_LAKE_PRIVATE_DATA": "s3://clio-private/lake/", "CLIO_LAKE_PUBLIC_DATA": "s3://clio-public/lake/"}
    validated = subprocess.run([BIN / "dagster", "definitions", "validate", "-m", "clio_dagster.definitions"],
                               env=env, cwd=ROOT, capture_output=True, text=True)
    assert validated.returncode == 0, validated.stderr[-2000:]
    probe = ("import json, clio_dagster.definitions as d; job = d.defs.resolve_job_def('daily_job'); "
             "print(json.dumps([job.executor_def.name, sorted(job.executor_def.config_schema.resolve_config({})"
             ".value['config']['per_step_k8s_config'])]))")
    shown = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True)
    name, gpu_steps = json.loads(shown.stdout.strip().splitlines()[-1])
    assert name == "k8s"
    assert "summary_embeddings" in gpu_steps and "facets" not in gpu_steps


def test_housekeeping_job_deletes_the_files_of_replaced_partitions(lakes):
    from clio_dagster.housekeeping import housekeeping_definitions
    from clio_dagster.resources import build_resources

    settings = load_settings()
    store = warehouse_for(settings)
    for database in ("private", "public"):
        store.init(database)
    for n in (30, 40, 50):  # each replace of the day leaves the previous day's file behind
        with store.connect("private") as con, transaction(con):
            replace_partition(con, "base_cluster_members", date(2024, 1, 1), _members(n))

    job, schedule = housekeeping_definitions(retention_days=0)
    assert schedule.cron_schedule == "0 4 * * *"
    result = job.execute_in_process(resources={"warehouse": build_resources(settings)["warehouse"]})
    assert result.success
    outputs = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {k: v.value for k, v in outputs[0].event_specific_data.metadata.items()}
    assert metadata["private_files_before"] >= 3 > metadata["private_files_after"] >= 1, metadata
    assert metadata["private_bytes_after"] < metadata["private_bytes_before"]
    with store.reader("private") as con:  # the latest snapshot is intact
        assert con.execute("SELECT count(*), sum(cluster_id) FROM base_cluster_members").fetchone() == (50, 1225)
