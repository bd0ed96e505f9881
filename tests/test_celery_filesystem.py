"""The filesystem broker and result backend of one-machine Celery deployments: no worker can take a message, and
no run can read a result, before it is written whole (kombu's own transport lost a step to that race)."""

from __future__ import annotations

import os

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError

from clio_dagster import celery_filesystem
from clio_dagster.executors import ATOMIC_FILE_BACKEND, ATOMIC_FILESYSTEM_TRANSPORT, celery_config
from clio_dagster.settings import ClioSettings


def _connection(tmp_path) -> Connection:
    messages = tmp_path / "messages"
    messages.mkdir()
    options = {"data_folder_in": str(messages), "data_folder_out": str(messages),
               "control_folder": str(tmp_path / "control")}
    return Connection("filesystem://", transport=ATOMIC_FILESYSTEM_TRANSPORT, transport_options=options)


def test_a_message_is_invisible_to_workers_until_written_whole(tmp_path, monkeypatch):
    from queue import Empty

    with _connection(tmp_path) as connection:
        channel = connection.default_channel
        assert isinstance(channel, celery_filesystem.Channel)
        taken_mid_write = []
        rename = os.replace

        def rename_after_a_worker_polls(source, target):
            try:
                taken_mid_write.append(channel._get("dagster"))
            except Empty:
                taken_mid_write.append(None)
            rename(source, target)

        monkeypatch.setattr(celery_filesystem.os, "replace", rename_after_a_worker_polls)
        channel._put("dagster", {"body": "step one"})
        monkeypatch.undo()
        assert taken_mid_write == [None]
        channel._put("other", {"body": "another queue"})
        assert channel._get("dagster") == {"body": "step one"}
        with pytest.raises(Empty):
            channel._get("dagster")
        assert channel._get("other") == {"body": "another queue"}
        assert os.listdir(tmp_path / "messages") == []


def test_an_unwritable_queue_folder_is_a_channel_error(tmp_path):
    with _connection(tmp_path) as connection:
        channel = connection.default_channel
        channel.data_folder_out = str(tmp_path / "missing")
        with pytest.raises(ChannelError, match="Cannot add file"):
            channel._put("dagster", {"body": "step"})


def test_results_are_replaced_whole(tmp_path):
    from celery import Celery

    results = tmp_path / "results"
    results.mkdir()
    url = f"{ATOMIC_FILE_BACKEND}+file://{results}"
    worker, run = Celery("worker", backend=url).backend, Celery("run", backend=url).backend
    assert isinstance(worker, celery_filesystem.AtomicFilesystemBackend)
    worker.store_result("task-1", {"step": "facets"}, "STARTED")
    assert run.get_task_meta("task-1")["status"] == "STARTED"
    worker.store_result("task-1", {"step": "facets", "rows": 200}, "SUCCESS")
    assert run.get_task_meta("task-1")["result"] == {"step": "facets", "rows": 200}
    assert [name for name in os.listdir(results) if name.endswith(".partial")] == []


def test_a_filesystem_deployment_uses_the_atomic_broker_and_backend(tmp_path):
    settings = ClioSettings(home=tmp_path, storage="ducklake", executor="celery", celery_broker="filesystem://",
                            celery_backend=f"file://{tmp_path}/results", celery_folder=tmp_path / "celery",
                            lake_private_catalog="dbname=a", lake_public_catalog="dbname=b",
                            lake_private_data=str(tmp_path / "private"), lake_public_data=str(tmp_path / "public"))
    config = celery_config(settings)
    assert config["config_source"]["broker_transport"] == ATOMIC_FILESYSTEM_TRANSPORT
    assert config["backend"] == f"{ATOMIC_FILE_BACKEND}+file://{tmp_path}/results"
    redis = settings.model_copy(update={"celery_broker": "redis://cache:6379/0", "celery_backend": "redis://cache/1"})
    assert "broker_transport" not in celery_config(redis)["config_source"]
    assert celery_config(redis)["backend"] == "redis://cache/1"


def test_workers_binding_at_once_all_land_in_the_queue_table(tmp_path):
    """Workers starting together each bind their queue: every binding must survive, and none may read the table
    half-written (kombu's own transport crashed a worker that way)."""
    from concurrent.futures import ThreadPoolExecutor

    with _connection(tmp_path) as first:
        options = first.transport_options

    def bind(i: int) -> None:
        with Connection("filesystem://", transport=ATOMIC_FILESYSTEM_TRANSPORT, transport_options=options) as con:
            for j in range(10):
                con.default_channel._queue_bind("dagster", f"dagster.{i}.{j}", "", f"q{i}-{j}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bind, range(8)))
    with Connection("filesystem://", transport=ATOMIC_FILESYSTEM_TRANSPORT, transport_options=options) as con:
        channel = con.default_channel
        assert sorted(q.queue for q in channel.get_table("dagster")) == sorted(f"q{i}-{j}" for i in range(8)
                                                                               for j in range(10))
        channel._delete("q3-4", "dagster", "dagster.3.4", "")
        assert "q3-4" not in {q.queue for q in channel.get_table("dagster")}
        assert len(channel.get_table("dagster")) == 79
