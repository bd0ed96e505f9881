"""The executor of every job, from the settings: in-process (default) or Celery workers (`clio worker`).

Celery is the distributed executor that runs here without a cluster: the tests use its filesystem broker,
production a Redis or RabbitMQ URL. A step runs in whichever worker takes it; the steps of one run that can
run at once (the day's shards) run on different workers. Kubernetes (`K8sRunLauncher` + `k8s_job_executor`)
is the shape Dagster recommends in production: deploy/k8s/."""

from __future__ import annotations

from typing import Any

import dagster as dg

from clio_dagster.settings import ClioSettings

# The filesystem broker and file result backend, made safe for several workers (clio_dagster/celery_filesystem.py);
# named, not imported: Celery loads them, and only in a deployment that uses them.
ATOMIC_FILESYSTEM_TRANSPORT = "clio_dagster.celery_filesystem:Transport"
ATOMIC_FILE_BACKEND = "clio_dagster.celery_filesystem:AtomicFilesystemBackend"

# One task per worker process at a time: a step holds an embedding model and a day's vectors.
CELERY_WORKER_CONCURRENCY = 1


def celery_config(settings: ClioSettings) -> dict[str, Any]:
    """The Celery executor's config: the same block the workers are started with (`clio worker`)."""
    source: dict[str, Any] = {"worker_concurrency": CELERY_WORKER_CONCURRENCY, "worker_prefetch_multiplier": 1}
    backend = settings.celery_backend
    if backend.startswith("file://"):
        backend = f"{ATOMIC_FILE_BACKEND}+{backend}"  # results written whole (celery_filesystem)
    if settings.celery_broker.startswith("filesystem://"):
        source["broker_transport"] = ATOMIC_FILESYSTEM_TRANSPORT
        folder = settings.celery_folder
        assert folder is not None  # checked by the settings
        messages = str(folder / "messages")
        # A directory listing every 0.2 s (the default 1 s adds up to a second to each step's hand-over).
        source["broker_transport_options"] = {"data_folder_in": messages, "data_folder_out": messages,
                                              "data_folder_processed": str(folder / "processed"),
                                              "control_folder": str(folder / "control"),
                                              "polling_interval": 0.2}
    return {"broker": settings.celery_broker, "backend": backend, "config_source": source}


def prepare_celery_folders(settings: ClioSettings) -> None:
    if settings.celery_folder is not None:
        for name in ("messages", "processed", "results", "control"):
            (settings.celery_folder / name).mkdir(parents=True, exist_ok=True)


# The pods of the steps that embed (op tag `clio/embeds`, assets/daily.py) on a GPU device: one GPU each, and
# allowed onto GPU nodes (deploy/k8s/values.yaml says how to point them there).
GPU_STEP_K8S_CONFIG = {
    "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
    "pod_spec_config": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
}


def tagged_steps(asset: dg.AssetsDefinition, tag: str) -> list[str]:
    """The step keys of `asset` whose op carries `tag` = "true" ("<graph>.<op>" inside a graph-backed asset)."""
    node = asset.node_def
    if isinstance(node, dg.GraphDefinition):
        return [f"{asset.key.to_python_identifier()}.{op.name}" for op in node.iterate_op_defs()
                if op.tags.get(tag) == "true"]
    return [asset.key.to_python_identifier()] if node.tags.get(tag) == "true" else []


def executor_for(settings: ClioSettings, embedding_steps: list[str] = ()) -> dg.ExecutorDefinition:
    """`embedding_steps`: the step keys tagged `clio/embeds`, which the k8s executor gives a GPU on a cuda device."""
    if settings.executor == "k8s":
        from dagster_k8s import k8s_job_executor

        gpu = settings.embedding_device.startswith("cuda")
        per_step = {step: GPU_STEP_K8S_CONFIG for step in embedding_steps} if gpu else {}
        return k8s_job_executor.configured({"per_step_k8s_config": per_step}, name="k8s")
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        prepare_celery_folders(settings)
        return celery_executor.configured(celery_config(settings), name="celery")
    # One process: the local DuckDB files take one writer each, and the embedding model loads once.
    return dg.in_process_executor
