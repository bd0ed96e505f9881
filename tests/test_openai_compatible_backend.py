"""The openai_compatible backend through the real openai SDK, against the loopback chat-completions fake."""

from __future__ import annotations

import dataclasses
import json

import pytest

from clio_dagster.llm import TaskFailure
from clio_dagster.llm.openai_compatible import (OpenAICompatibleBackend, OpenAICompatibleError,
                                                OpenAICompatibleSettings)
from clio_dagster.llm.pricing import ModelPrice
from clio_dagster.llm.schemas import TASK_OUTPUTS, FacetsOutput
from clio_dagster.llm.templates import load_template
from tests.fake_openai import FakeOpenAI, FaultPlan
from tests.test_claude_backend import CONVERSATIONS, store  # noqa: F401  (the store fixture)

MODEL = "qwen2.5-7b-instruct"
MODES = ("json_schema", "tools")


def settings_for(fake: FakeOpenAI, **overrides) -> OpenAICompatibleSettings:
    tasks = list(TASK_OUTPUTS)
    base = OpenAICompatibleSettings(
        api_key="", base_url=fake.base_url, models={t: MODEL for t in tasks}, temperatures={t: 0.2 for t in tasks},
        max_tokens={t: 512 for t in tasks}, prices={MODEL: ModelPrice(input=0.0, output=0.0)},
        max_concurrency=4, max_retries=4, timeout_s=10.0,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.mark.parametrize("mode", MODES)
def test_every_task_parses_in_both_structured_modes(fake, mode):
    backend = OpenAICompatibleBackend(settings_for(fake, structured_mode=mode))
    facets = backend.extract_facets(CONVERSATIONS[:3])
    assert [f.concerning for f in facets] == [1, 1, 4]
    assert all(f.request.startswith("The user's overall request for the assistant is to") for f in facets)
    named = backend.name_cluster_samples({0: (["bake bread at home", "bake sourdough bread"], ["fix a tap"])})
    assert named[0].name.startswith("Help with") and "bread" in named[0].name
    assert backend.propose_parents([(["Bake bread: baking", "Cook pasta: cooking"], ["Fix taps: plumbing"], 1)]) == [
        ["Parent: Bake bread"]]
    assert backend.dedupe_names(["Cook food", "cook food", "Fix things"], 2) == ["Cook food", "Fix things"]
    assert backend.assign_parent(["Bake bread: baking loaves"], ["Cook and bake food", "Repair plumbing"]) == [
        "Cook and bake food"]
    assert backend.rename_parent([["Bake bread: baking", "Cook pasta: cooking"]])[0].name == "Parent of Bake bread"
    assert [a.rating for a in backend.audit_privacy(["Email jane@example.com: a person", "Bake bread: home"])] == [1, 5]
    assert backend.screen(CONVERSATIONS[:2], "Is this about baking bread?") == [True, False]
    assert fake.message_calls == 3 + 1 + 1 + 1 + 1 + 1 + 2 + 2
    assert backend.naming_method.endswith(f"(openai_compatible: {MODEL})")


@pytest.mark.parametrize("mode", MODES)
def test_request_shape_shares_the_claude_prompts_and_schemas(fake, mode):
    OpenAICompatibleBackend(settings_for(fake, structured_mode=mode)).extract_facets(CONVERSATIONS[:1])
    (body,) = fake.completion_requests
    template = load_template("extract_facets")
    assert body["model"] == MODEL and body["temperature"] == 0.2 and body["max_tokens"] == 512
    assert body["stream"] is False
    assert body["messages"][0] == {"role": "system", "content": template.system}
    user = body["messages"][1]
    raw = CONVERSATIONS[0].messages[0].text
    assert user["role"] == "user" and user["content"].count(raw) == 1 and raw not in template.system
    if mode == "json_schema":
        assert body["response_format"] == {"type": "json_schema", "json_schema": {
            "name": "record_extract_facets", "schema": FacetsOutput.model_json_schema(), "strict": True}}
        assert "tools" not in body
    else:
        assert body["tools"][0]["function"]["parameters"] == FacetsOutput.model_json_schema()
        assert body["tool_choice"] == {"type": "function", "function": {"name": "record_extract_facets"}}
        assert "response_format" not in body


def every_task(backend: OpenAICompatibleBackend) -> list:
    """One call of each of Clio's eight tasks (several items each), in a fixed order."""
    clusters = [f"Topic {i}: requests about topic {i}" for i in range(6)]
    return [
        backend.extract_facets(CONVERSATIONS),
        backend.screen(CONVERSATIONS[:6], "Is this about baking bread?"),
        backend.name_cluster_samples({i: ([f"bake bread {i}", "bake sourdough"], ["fix a tap"]) for i in range(4)}),
        backend.propose_parents([(clusters[:3], clusters[3:], 2), (clusters[3:], clusters[:3], 2)]),
        backend.dedupe_names(["Cook food", "cook food", "Fix things"], 2),
        backend.assign_parent(clusters, ["Parent: Topic 0", "Parent: Topic 3"]),
        backend.rename_parent([clusters[:3], clusters[3:]]),
        backend.audit_privacy(clusters + ["Email jane@example.com: a person"]),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_every_task_survives_thirty_percent_faults_with_identical_output_and_a_rerun_makes_no_calls(store, mode):
    with FakeOpenAI() as clean:
        expected = every_task(OpenAICompatibleBackend(settings_for(clean, structured_mode=mode)))
    plan = FaultPlan(rate=0.3, kinds=("429", "500", "529", "invalid_json", "invalid_schema", "no_tool"), seed=3,
                     retry_after_5xx_s=0.01)
    with FakeOpenAI(faults=plan) as faulty:
        backend = OpenAICompatibleBackend(settings_for(faulty, structured_mode=mode), store)
        assert every_task(backend) == expected
        kinds = {entry["kind"] for entry in faulty.fault_log}
        assert {"429", "500", "529"} & kinds and {"invalid_json", "invalid_schema", "no_tool"} & kinds, kinds
        assert backend.ledger.failures == 0 and backend.ledger.retries > 0
        calls = faulty.message_calls
        again = OpenAICompatibleBackend(settings_for(faulty, structured_mode=mode), store)
        assert every_task(again) == expected
        assert faulty.message_calls == calls and again.ledger.calls == 0


def test_timeouts_are_retried(store):
    plan = FaultPlan(script=["timeout"], timeout_sleep_s=1.5)
    with FakeOpenAI(faults=plan) as fake:
        backend = OpenAICompatibleBackend(settings_for(fake, timeout_s=0.5, max_concurrency=1), store)
        (result,) = backend.extract_facets(CONVERSATIONS[:1])
    assert not isinstance(result, TaskFailure) and backend.ledger.retries >= 1


@pytest.mark.parametrize("mode", MODES)
def test_invalid_json_is_sent_back_with_the_error_then_recorded(fake, mode):
    fake.faults = FaultPlan(script=["invalid_json", "ok"])
    backend = OpenAICompatibleBackend(settings_for(fake, structured_mode=mode, max_concurrency=1))
    (result,) = backend.extract_facets(CONVERSATIONS[:1])
    assert not isinstance(result, TaskFailure)
    repair = fake.completion_requests[1]["messages"]
    assert repair[-1]["content"].startswith(("That answer was invalid: the answer is not valid JSON",
                                             "Invalid input: the answer is not valid JSON"))
    assert repair[-1]["role"] == ("tool" if mode == "tools" else "user")

    fake.faults = FaultPlan(script=["no_tool"] * 4)
    (failed,) = OpenAICompatibleBackend(settings_for(fake, structured_mode=mode, max_repairs=1)).extract_facets(
        CONVERSATIONS[1:2])
    assert isinstance(failed, TaskFailure) and failed.reason == "invalid_output"


def test_usage_costs_nothing_by_default_and_the_configured_price_otherwise(fake, store):
    free = OpenAICompatibleBackend(settings_for(fake), store)
    free.extract_facets(CONVERSATIONS[:4])
    assert free.usage_metadata()["llm_calls"] == 4 and free.usage_metadata()["llm_input_tokens"] > 0
    assert free.usage_metadata()["llm_cost_usd"] == 0
    priced = OpenAICompatibleBackend(settings_for(fake, prices={MODEL: ModelPrice(input=2.0, output=6.0)}), store)
    priced.extract_facets(CONVERSATIONS[4:8])
    meta = priced.usage_metadata()
    assert meta["llm_cost_usd"] == pytest.approx((meta["llm_input_tokens"] * 2 + meta["llm_output_tokens"] * 6) / 1e6)
    with store.warehouse.connect("private") as con:
        rows = con.execute("SELECT task, model, count(*), sum(cost_usd) > 0 FROM llm_usage GROUP BY ALL "
                           "ORDER BY ALL").fetchall()
    assert rows == [("extract_facets", MODEL, 8, True)]


def test_budget_stops_the_run(fake, store):
    from clio_dagster.llm.claude import BudgetExceeded

    settings = settings_for(fake, prices={MODEL: ModelPrice(input=100.0, output=100.0)}, budget_usd=0.6,
                            max_concurrency=1)
    with pytest.raises(BudgetExceeded, match="LLM budget reached"):
        OpenAICompatibleBackend(settings, store).extract_facets(CONVERSATIONS)
    assert 0 < fake.message_calls < len(CONVERSATIONS)


def test_a_server_without_the_structured_mode_gets_a_clear_error():
    with FakeOpenAI(structured_modes={"tools"}) as fake:
        with pytest.raises(OpenAICompatibleError, match="refused JSON-schema output.*CLIO_OPENAI_STRUCTURED_MODE=tools"):
            OpenAICompatibleBackend(settings_for(fake)).extract_facets(CONVERSATIONS[:1])
        # The same server answers in tool-calling mode.
        assert OpenAICompatibleBackend(settings_for(fake, structured_mode="tools")).extract_facets(CONVERSATIONS[:1])
    with FakeOpenAI(structured_modes={"json_schema"}) as fake:
        with pytest.raises(OpenAICompatibleError, match="refused tool calling.*--enable-auto-tool-choice"):
            OpenAICompatibleBackend(settings_for(fake, structured_mode="tools")).extract_facets(CONVERSATIONS[:1])


def test_key_and_model_problems_are_clear_errors():
    with FakeOpenAI(api_key="local-secret") as fake:
        with pytest.raises(OpenAICompatibleError, match="rejected the API key.*OPENAI_API_KEY") as caught:
            OpenAICompatibleBackend(settings_for(fake, api_key="wrong")).extract_facets(CONVERSATIONS[:1])
        assert "wrong" not in str(caught.value)
        assert OpenAICompatibleBackend(settings_for(fake, api_key="local-secret")).extract_facets(CONVERSATIONS[:1])
        with pytest.raises(OpenAICompatibleError, match="Model 'llama-nope' was not found.*CLIO_OPENAI_MODEL"):
            OpenAICompatibleBackend(settings_for(fake, api_key="local-secret", models={
                t: "llama-nope" for t in TASK_OUTPUTS})).extract_facets(CONVERSATIONS[:1])


def test_a_prompt_variant_is_versioned_apart_from_the_shared_prompt(fake, store):
    variant = load_template("name_cluster", "small")
    assert variant.version != load_template("name_cluster").version and "JSON object" in variant.system
    varied = OpenAICompatibleBackend(settings_for(fake, prompt_variant="small"), store)
    named = varied.name_cluster_samples({0: (["bake bread at home", "bake sourdough bread"], ["fix a tap"])})
    assert named[0].name.startswith("Help with")
    (body,) = fake.completion_requests
    assert body["messages"][0]["content"] == variant.system
    with store.warehouse.connect("private") as con:
        assert con.execute("SELECT prompt_version FROM llm_cache").fetchall() == [(variant.version,)]
    # A task without that variant file uses the shared prompt.
    assert varied._template("screen").version == load_template("screen").version


def test_the_fake_speaks_the_wire_format_for_other_clients(fake):
    import httpx

    body = {"model": MODEL, "messages": [{"role": "user", "content": "<cluster>Bake bread: baking</cluster>"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "record_audit_privacy",
                                                                        "schema": {"type": "object"}}}}
    answer = httpx.post(f"{fake.base_url}/chat/completions", json=body).json()
    assert answer["object"] == "chat.completion" and answer["choices"][0]["finish_reason"] == "stop"
    assert json.loads(answer["choices"][0]["message"]["content"])["rating"] == 5
    assert httpx.post(f"{fake.base_url}/chat/completions", json={**body, "stream": True}).status_code == 400
    assert [m["id"] for m in httpx.get(f"{fake.base_url}/models").json()["data"]] == [MODEL]


@pytest.mark.parametrize("mode", MODES)
def test_custom_facets_join_the_one_facet_call_on_a_self_hosted_model(fake, mode):
    from clio_dagster.core.custom_facets import parse_facets

    facets = parse_facets([
        {"name": "programming_language", "question": "Which programming language is the user working in?",
         "type": "categorical", "values": ["Python", "SQL", "None"]},
        {"name": "frustration", "question": "How frustrated is the user?", "type": "numeric", "min": 1, "max": 5}])
    backend = OpenAICompatibleBackend(settings_for(fake, structured_mode=mode), custom_facets=facets)
    results = backend.extract_facets(CONVERSATIONS)
    assert fake.message_calls == len(CONVERSATIONS)  # one call per conversation, custom facets included
    for request in fake.completion_requests:
        fmt = request.get("response_format")
        schema = fmt["json_schema"]["schema"] if fmt else request["tools"][0]["function"]["parameters"]
        assert set(schema["properties"]) == set(FacetsOutput.model_fields) | {"programming_language", "frustration"}
        assert "How frustrated is the user?" in request["messages"][0]["content"]
    by_id = {c.conversation_id: r for c, r in zip(CONVERSATIONS, results)}
    assert by_id["c03"].custom["programming_language"] == "Python"  # "learn python decorators"
    assert all(1 <= r.custom["frustration"] <= 5 for r in results)
