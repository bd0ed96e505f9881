"""Per-task backend selection: presets, per-task overrides, the mixes refused, and what each stage is given."""

from __future__ import annotations

import pytest

from clio_dagster.core.task_routing import LLM_TASKS, PRESETS, TaskRoute, resolve_routes, route_summary
from clio_dagster.llm import OfflineBackend
from clio_dagster.llm.base import Regeneration
from clio_dagster.llm.mixed import MixedBackend
from clio_dagster.llm.schemas import TASK_OUTPUTS
from clio_dagster.resources import build_resources, resolved_routes
from clio_dagster.settings import SettingsError, load_settings
from tests.fake_openai import LOCAL_MODEL, FakeOpenAI

LOCAL = {"openai_base_url": "http://127.0.0.1:9/v1", "openai_model": LOCAL_MODEL}


def test_the_tasks_are_the_llm_layers_tasks():
    assert set(LLM_TASKS) == set(TASK_OUTPUTS) and all(set(p) == set(LLM_TASKS) for p in PRESETS.values())


def test_presets_route_every_task():
    assert resolve_routes("claude-names", {}) == {
        "extract_facets": TaskRoute("offline"), "screen": TaskRoute("offline"),
        **{t: TaskRoute("claude") for t in ("name_cluster", "propose_parents", "dedupe_names", "assign_parent",
                                            "rename_parent", "audit_privacy")}}
    assert {r.backend for r in resolve_routes("local", {}).values()} == {"openai_compatible"}
    assert {r.backend for r in resolve_routes("offline", {}).values()} == {"offline"}


def test_models_are_filled_in_per_backend_and_overridable_per_task(monkeypatch):
    settings = load_settings(llm_preset="claude", llm_tasks={"audit_privacy": "openai_compatible:qwen2.5:72b",
                                                             "name_cluster": "claude:claude-opus-5"}, **LOCAL)
    routes = resolved_routes(settings)
    assert routes["extract_facets"] == "claude:claude-haiku-5-5" and routes["assign_parent"] == "claude:claude-sonnet-5-5"
    assert routes["name_cluster"] == "claude:claude-opus-5"
    assert routes["audit_privacy"] == "openai_compatible:qwen2.5:72b"  # a model id with a colon
    llm = build_resources(settings)["llm"]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    assert llm.claude_settings().models["name_cluster"] == "claude-opus-5"
    assert llm.openai_settings().models["audit_privacy"] == "qwen2.5:72b"
    assert settings.backend == "mixed" and "openai_compatible:qwen2.5:72b: audit_privacy" in route_summary(routes)


@pytest.mark.parametrize("overrides, problem", [
    ({"summarise": "claude"}, "unknown task"),
    ({"name_cluster": "gpt"}, "unknown backend 'gpt'"),
    ({"name_cluster": "offline:big"}, "offline backend takes no model"),
    ({"assign_parent": "offline"}, "hierarchy tasks"),
])
def test_bad_routes_are_clear_errors(overrides, problem):
    with pytest.raises(SettingsError, match=problem):
        load_settings(llm_preset="claude", llm_tasks=overrides)


def test_presets_and_backends_must_agree_and_local_needs_its_server():
    assert load_settings(llm_backend="openai_compatible", **LOCAL).preset == "local"
    with pytest.raises(SettingsError, match="disagree"):
        load_settings(llm_preset="claude-names", llm_backend="claude")
    with pytest.raises(SettingsError, match="needs CLIO_OPENAI_BASE_URL"):
        load_settings(llm_preset="local")
    with pytest.raises(SettingsError, match="needs CLIO_OPENAI_MODEL"):
        load_settings(llm_preset="local", openai_base_url="http://127.0.0.1:9/v1")


def test_each_stage_gets_one_backend_where_its_tasks_share_it(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    llm = build_resources(load_settings(llm_preset="claude-names"))["llm"]
    from clio_dagster.llm.claude import ClaudeBackend

    assert isinstance(llm.get(stage="facets"), OfflineBackend) and llm.get(stage="facets").deterministic
    assert all(type(llm.get(stage=s)) is ClaudeBackend for s in ("names", "hierarchy", "audit"))
    mixed = llm.get()
    assert isinstance(mixed, MixedBackend) and not mixed.deterministic and mixed.heuristic
    assert mixed.by_task["extract_facets"] is mixed.by_task["screen"] is not mixed.by_task["name_cluster"]


class LenientAuditor(FakeOpenAI):
    """A model that rates every cluster 5, whatever it says."""

    def derive_answer(self, name, user_text, schema):
        if name == "record_audit_privacy":
            return {"justification": "Looks general to me.", "rating": 5}
        return super().derive_answer(name, user_text, schema)


@pytest.mark.parametrize("overrides", [
    {},  # local: every task on the server
    {"name_cluster": "offline", "extract_facets": "offline"},  # heuristic names, LLM audit
    {"audit_privacy": "offline"},  # LLM names, rule audit
])
def test_the_deterministic_privacy_rules_rate_every_name_whatever_audits(overrides):
    names = [("Email jane.doe@example.com for help", "Users wrote to jane.doe@example.com."),
             ("Plan trips with Zorblax Qwimble", "Users planned trips with zorblax qwimble."),
             ("Bake sourdough bread", "Users asked how to bake bread.")]
    with LenientAuditor() as fake:
        settings = load_settings(llm_preset="local", llm_tasks=overrides, openai_base_url=fake.base_url,
                                 openai_model=LOCAL_MODEL)
        auditor = build_resources(settings)["llm"].get(stage="audit").privacy_auditor(frozenset({"zorblax"}))
        ratings = [rating for rating, _ in auditor.audit(names)]
        llm_audited = fake.message_calls > 0
    assert llm_audited == ("audit_privacy" not in overrides)
    assert ratings[0] <= 2 and ratings[1] <= 2 and ratings[2] >= 3, ratings


def test_a_mixed_stage_regenerates_base_names_with_the_namer_and_parents_with_the_renamer():
    calls = []

    class Recorder(OfflineBackend):
        def __init__(self, label):
            super().__init__()
            self.label = label

        def regenerate(self, request, auditor):
            calls.append((self.label, list(request.failing)))
            return {i: (f"{self.label} {i}", "") for i in request.failing}

    namer, renamer = Recorder("namer"), Recorder("renamer")
    mixed = MixedBackend({"name_cluster": namer, "rename_parent": renamer, "audit_privacy": renamer}, "mix")
    nodes = [{"node_id": "b00000", "level": 0}, {"node_id": "b00001", "level": 0}, {"node_id": "p1-0", "level": 1}]
    request = Regeneration(nodes, [0, 2], [(1, "x"), (5, ""), (1, "y")], [], {}, {}, 3)
    assert mixed.regenerate(request, auditor=None) == {0: ("namer 0", ""), 2: ("renamer 2", "")}
    assert calls == [("namer", [0]), ("renamer", [2])]


def test_estimate_prices_a_preset_per_stage(capsys):
    from clio_dagster.cli import main

    def totals(preset: str) -> tuple[dict[str, list[str]], float]:
        assert main(["estimate", "--sample", "--preset", preset]) == 0
        lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:] if line.strip()}
        return lines, float(lines["total"][-2])

    claude, claude_cost = totals("claude")
    names, names_cost = totals("claude-names")
    assert names["facets"][1:3] == ["offline", "0"] and int(claude["facets"][2]) >= 2800
    assert names["cluster"] == claude["cluster"] and names["privacy"] == claude["privacy"]  # the same per-cluster calls
    assert 0 < names_cost < claude_cost / 2
