"""Which backend and model does each of Clio's LLM tasks: presets, per-task overrides, and the mixes refused.

A route is "offline", "claude[:model]" or "openai_compatible[:model]". Presets give every task a route; a
setting per task (CLIO_LLM_TASKS) overrides some. Pure functions: settings.py validates with them and the
LLM resource builds its backends from the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Per conversation: facets, and a targeted run's yes/no screen.
CONVERSATION_TASKS = ("extract_facets", "screen")
# Clio's hierarchizer steps: one parent builder runs them all, so they are all offline or all an LLM.
HIERARCHY_TASKS = ("propose_parents", "dedupe_names", "assign_parent", "rename_parent")
# Per cluster: a few hundred calls a day whatever the traffic.
CLUSTER_TASKS = ("name_cluster", *HIERARCHY_TASKS, "audit_privacy")
LLM_TASKS = (*CONVERSATION_TASKS, *CLUSTER_TASKS)
BACKENDS = ("offline", "claude", "openai_compatible")

PRESETS: dict[str, dict[str, str]] = {
    "offline": {task: "offline" for task in LLM_TASKS},
    "claude": {task: "claude" for task in LLM_TASKS},
    # Offline facets (nothing per conversation leaves the machine), Claude for the cluster-level tasks.
    "claude-names": {**{task: "offline" for task in CONVERSATION_TASKS}, **{task: "claude" for task in CLUSTER_TASKS}},
    # A self-hosted model behind an OpenAI-compatible server (vLLM, Ollama, llama.cpp server, TGI).
    "local": {task: "openai_compatible" for task in LLM_TASKS},
}

# The daily assets and the tasks each one runs (what `LLMResource.get` builds a backend for).
STAGE_TASKS: dict[str, tuple[str, ...]] = {
    "facets": CONVERSATION_TASKS,
    "names": ("name_cluster",),
    "hierarchy": HIERARCHY_TASKS,
    # The auditor, and the regeneration of failing names (base clusters by the namer, parents by the renamer).
    "audit": ("audit_privacy", "name_cluster", "rename_parent"),
}


class RoutingError(ValueError):
    """A preset or per-task setting that names no known task or backend, or a mix that cannot run."""


@dataclass(frozen=True)
class TaskRoute:
    backend: str
    model: str | None = None  # None: the backend's default model for the task (offline has none)

    def label(self) -> str:
        return f"{self.backend}:{self.model}" if self.model else self.backend


def parse_route(task: str, text: str) -> TaskRoute:
    backend, _, model = text.partition(":")  # a model id may hold colons itself ("qwen2.5:7b")
    if backend not in BACKENDS:
        raise RoutingError(f"CLIO_LLM_TASKS[{task!r}]: unknown backend {backend!r}; use one of {', '.join(BACKENDS)} "
                           "(optionally ':<model>').")
    if backend == "offline" and model:
        raise RoutingError(f"CLIO_LLM_TASKS[{task!r}]: the offline backend takes no model.")
    return TaskRoute(backend, model or None)


def resolve_routes(preset: str, overrides: Mapping[str, str]) -> dict[str, TaskRoute]:
    """Every task's route: the preset's, then the overrides; refuses mixes that cannot run."""
    if preset not in PRESETS:
        raise RoutingError(f"Unknown LLM preset {preset!r}; use one of {', '.join(PRESETS)}.")
    unknown = sorted(set(overrides) - set(LLM_TASKS))
    if unknown:
        raise RoutingError(f"CLIO_LLM_TASKS names unknown task(s) {', '.join(unknown)}; the tasks are "
                           f"{', '.join(LLM_TASKS)}.")
    routes = {task: TaskRoute(PRESETS[preset][task]) for task in LLM_TASKS}
    routes.update({task: parse_route(task, text) for task, text in overrides.items()})
    offline = {task for task in HIERARCHY_TASKS if routes[task].backend == "offline"}
    if offline and len(offline) < len(HIERARCHY_TASKS):
        raise RoutingError(f"The hierarchy tasks ({', '.join(HIERARCHY_TASKS)}) run as one step: route all of them "
                           f"offline or all to an LLM (offline now: {', '.join(sorted(offline))}).")
    return routes


def route_summary(labels: Mapping[str, str]) -> str:
    """'backend[:model]: its tasks' per route, for a person reading which backend does what."""
    tasks_of: dict[str, list[str]] = {}
    for task in LLM_TASKS:
        tasks_of.setdefault(labels[task], []).append(task)
    return "; ".join(f"{label}: {', '.join(tasks)}" for label, tasks in tasks_of.items())


def stage_label(routes: Mapping[str, TaskRoute]) -> str:
    """What wrote a partition, for the public DB: one backend's name, or each stage's route."""
    backends = {route.backend for route in routes.values()}
    if len(backends) == 1:
        return backends.pop()
    parts = {"facets": routes["extract_facets"], "names": routes["name_cluster"],
             "hierarchy": routes["rename_parent"], "audit": routes["audit_privacy"]}
    return "; ".join(f"{stage}: {route.label()}" for stage, route in parts.items())
