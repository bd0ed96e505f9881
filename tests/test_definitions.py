"""The code location loads the way Dagster's tools load it, and the schedule targets yesterday."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from clio_dagster.assets.reuse import code_version
from tests.conftest import ROOT


def test_definitions_validate_and_list_the_daily_graph():
    from clio_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.path[-1] for k in graph.get_all_asset_keys()}
    assert keys >= {"raw_conversations", "facets", "summary_embeddings", "base_clusters", "cluster_names",
                    "hierarchy", "privacy_audit", "map_projection", "published_clusters", "explorer",
                    "topic_registry", "topic_changes"}
    upstream = {k.path[-1]: {p.path[-1] for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    # write-audit-publish: only the audit (and the map) feed the public DB
    assert upstream["published_clusters"] == {"privacy_audit", "map_projection"}
    assert upstream["privacy_audit"] == {"hierarchy"} and upstream["hierarchy"] == {"cluster_names"}
    assert upstream["facets"] == {"raw_conversations"}
    assert upstream["explorer"] == {"published_clusters", "classifier_comparison"}
    assert upstream["topic_registry"] == {"published_clusters"} and upstream["topic_changes"] == {"topic_registry"}
    # every daily asset is partitioned; the topic assets read all days at once and are not
    unpartitioned = {k.path[-1] for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is None}
    assert unpartitioned == {"topic_registry", "topic_changes"}
    assert graph.get(dg.AssetKey("topic_registry")).automation_condition is not None
    from clio_dagster.definitions import daily_job

    assert dg.AssetKey("topic_registry") not in daily_job.selection.resolve(graph)


def test_schedule_materialises_yesterdays_partition():
    from clio_dagster.definitions import daily_schedule, defs

    context = dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(),
        scheduled_execution_time=datetime(2024, 3, 10, 1, 0, tzinfo=timezone.utc),
    )
    schedule = defs.resolve_schedule_def(daily_schedule.name)
    requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2024-03-09"]
    assert defs.resolve_job_def("daily_job") is not None


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIO_")}
    env.update({"CLIO_HOME": str(tmp_path / "clio"), "DAGSTER_HOME": str(tmp_path / "dagster"),
                "CLIO_HMAC_SECRET": "ui-test-secret"})
    (tmp_path / "dagster").mkdir(exist_ok=True)
    return env


def test_dg_check_defs_loads_the_project(tmp_path):
    dg_cli = shutil.which("dg", path=str(Path(sys.executable).parent)) or shutil.which("dg")
    assert dg_cli, "dg (dagster-dg-cli) is not installed"
    done = subprocess.run([dg_cli, "check", "defs"], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


LAUNCH = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN = """query($runId: ID!) { runOrError(runId: $runId) { ... on Run { status
  eventConnection { events { __typename ... on MessageEvent { message }
    ... on ErrorEvent { error { message cause { message cause { message } } } } } } } } }"""
DEFAULT_CONFIG = """query($selector: PipelineSelector!) { runConfigSchemaOrError(selector: $selector) {
  ... on RunConfigSchema { rootDefaultYaml } } }"""


def _launch_weakened_run(port: int, location: str) -> tuple[str, str]:
    """Launch daily_job for one day, as the launchpad does, with min_unique_users below the deployment's;
    (final run status, the run's event messages)."""
    params = {"selector": {"repositoryLocationName": location, "repositoryName": "__repository__",
                           "jobName": "daily_job"},
              "runConfigData": {"resources": {"pipeline": {"config": {"min_unique_users": 1}}}},
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2024-03-01"}]}}
    launched = _graphql(port, LAUNCH, {"params": params})["data"]["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.time() + 240
    while time.time() < deadline:
        run = _graphql(port, RUN, {"runId": run_id})["data"]["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    texts = []
    for event in run["eventConnection"]["events"]:
        texts.append(f"{event['__typename']}: {event.get('message') or ''}")
        error = event.get("error")
        while error:
            texts.append(error["message"])
            error = error.get("cause")
    return run["status"], "\n".join(texts)


def test_dagster_dev_serves_the_code_location_and_refuses_weaker_runs(tmp_path):
    """The webserver loads the code location and shows each asset's code version; a run launched through its
    GraphQL API (the launchpad's path) with a privacy threshold below the deployment's fails before any asset
    materialises, saying why; the launchpad's default config holds no secret."""
    port = _free_port()
    dagster = str(Path(sys.executable).parent / "dagster")
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [dagster, "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    query = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } "
             "assetNodes { assetKey { path } isPartitioned opVersion } }")
    try:
        deadline = time.time() + 420  # three processes to start; the suite runs on two workers
        payload = None
        while time.time() < deadline:
            try:
                payload = _graphql(port, query)
                entries = payload["data"]["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["loadStatus"] == "LOADED" and payload["data"]["assetNodes"]:
                    break
            except (OSError, KeyError, TypeError, ValueError):
                pass
            time.sleep(1)
        assert payload is not None, "dagster dev never answered"
        entries = payload["data"]["workspaceOrError"]["locationEntries"]
        assert [e["loadStatus"] for e in entries] == ["LOADED"]
        nodes = {tuple(n["assetKey"]["path"]): n["isPartitioned"] for n in payload["data"]["assetNodes"]}
        assert nodes[("published_clusters",)] is True and nodes[("topic_registry",)] is False
        assert {("raw_conversations",), ("explorer",), ("topic_changes",)} <= set(nodes)
        # The UI shows each asset's code version (GraphQL: opVersion): the code part of the reuse fingerprint.
        assert {n["opVersion"] for n in payload["data"]["assetNodes"]} == {code_version()}

        location = entries[0]["name"]
        selector = {"repositoryLocationName": location, "repositoryName": "__repository__", "pipelineName": "daily_job"}
        default_yaml = _graphql(port, DEFAULT_CONFIG, {"selector": selector})["data"]["runConfigSchemaOrError"]
        assert "min_unique_users" in default_yaml["rootDefaultYaml"]
        assert env["CLIO_HMAC_SECRET"] not in default_yaml["rootDefaultYaml"]
        assert "hmac" not in default_yaml["rootDefaultYaml"] and "api_key" not in default_yaml["rootDefaultYaml"]

        status, events = _launch_weakened_run(port, location)
        assert status == "FAILURE", events
        assert "min_unique_users=1 is below this deployment's floor of 10" in events
        assert "ASSET_MATERIALIZATION" not in events and "MaterializationEvent" not in events
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_topic_registry_is_requested_once_after_a_published_day_changes():
    from clio_dagster.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    selection = dg.AssetSelection.assets("topic_registry")
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    assert result.total_requested == 0
    instance.report_runless_asset_event(dg.AssetMaterialization("published_clusters", partition="2024-03-01"))
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                               cursor=result.cursor)
    assert result.total_requested == 1
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                               cursor=result.cursor)
    assert result.total_requested == 0


def _requested(result, defs) -> dict[str, set[str]]:
    return {k.path[-1]: result.get_requested_partitions(k) for k in defs.resolve_asset_graph().get_all_asset_keys()
            if result.get_requested_partitions(k)}


def test_daily_chain_is_requested_for_yesterday_at_the_cron_tick():
    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    daily = dg.AssetSelection.assets(*DAILY_ASSETS)
    before = datetime(2024, 3, 5, 0, 30, tzinfo=timezone.utc)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=daily,
                                               evaluation_time=before)
    assert result.total_requested == 0  # nothing before 01:00 UTC
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=daily,
                                               evaluation_time=before.replace(hour=1, minute=5), cursor=result.cursor)
    # the tick requests the day that ended, for raw_conversations and (eagerly, in the same tick) everything after it
    assert _requested(result, defs) == {a.key.path[-1]: {"2024-03-04"} for a in DAILY_ASSETS}


def test_downstream_daily_assets_follow_a_new_latest_partition_but_not_old_days():
    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    downstream = dg.AssetSelection.assets(*DAILY_ASSETS[1:])
    now = datetime(2024, 3, 5, 0, 30, tzinfo=timezone.utc)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=downstream,
                                               evaluation_time=now)
    for day in ("2024-03-04", "2024-03-01"):  # a re-ingested latest day and an old day
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_conversations", partition=day))
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=downstream,
                                               evaluation_time=now.replace(minute=40), cursor=result.cursor)
    # old days are backfilled explicitly (UI, `dg launch`, `clio run`), not by the sensor
    assert _requested(result, defs) == {a.key.path[-1]: {"2024-03-04"} for a in DAILY_ASSETS[1:]}


def test_llm_steps_share_one_pool_limited_by_the_shipped_instance_config(tmp_path):
    from clio_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    pools = {k.path[-1]: graph.get(k).pools for k in graph.get_all_asset_keys()}
    assert {name for name, p in pools.items() if p and "llm" in p} >= {"facets", "cluster_names", "hierarchy",
                                                                       "privacy_audit"}
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    config = dg.DagsterInstance.from_config(str(tmp_path)).get_concurrency_config()
    assert config.pool_config.default_pool_limit == 1
    assert config.run_queue_config.max_concurrent_runs == 3


def test_dagster_cli_backfills_a_date_range_of_daily_job(tmp_path):
    """`dagster job backfill` submits one run request per day of the range (the daemon of `dagster dev`
    launches them; pools and run limits come from the shipped dagster.yaml)."""
    env = _env(tmp_path)
    shutil.copy(ROOT / "dagster.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    dagster = str(Path(sys.executable).parent / "dagster")
    done = subprocess.run([dagster, "job", "backfill", "-w", str(ROOT / "workspace.yaml"), "-j", "daily_job",
                           "--from", "2024-03-01", "--to", "2024-03-07", "--noprompt"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    (backfill,) = instance.get_backfills()
    assert sorted(backfill.partition_names) == [f"2024-03-0{d}" for d in range(1, 8)]
    assert backfill.job_name == "daily_job"
