"""The loopback Anthropic fake, exercised through the real `anthropic` SDK."""

from __future__ import annotations

import asyncio
import time

import anthropic
import pytest
from pydantic import ValidationError

from clio_dagster.llm.schemas import TASK_OUTPUTS, tool_definition, tool_name
from tests.fake_anthropic import FakeAnthropic, FaultPlan, derive_tool_input

MODEL = "claude-test-model"
SYSTEM = "You are Clio's careful analyst. " * 40

USER_TEXT = {
    "extract_facets": "<conversation>\nUser: Please help me debug my Python script, email me at bob@example.com or "
    "call 555-123-4567 today\nAssistant: Sure.\n</conversation>",
    "name_cluster": "<in_cluster><summary>debug python script errors</summary><summary>python script crashes on "
    "start</summary><summary>fix python import errors</summary></in_cluster>"
    "<contrast><summary>bake sourdough bread</summary></contrast>",
    "propose_parents": "<cluster_list><cluster>Debug Python: fix scripts</cluster><cluster>Bake bread: sourdough"
    "</cluster><cluster>Write poems: verse</cluster><cluster>Plan trips: travel</cluster></cluster_list>"
    "<desired_names>2</desired_names>",
    "dedupe_names": "<names><name>Code help</name><name>code HELP</name><name>Cooking</name><name>Travel</name>"
    "</names><desired_names>2</desired_names>",
    "assign_parent": "<cluster>Debug Python scripts: fixing python errors</cluster><parent_names><name>Cooking and "
    "baking</name><name>Python programming help</name></parent_names>",
    "rename_parent": "<children><cluster>Debug Python scripts: errors</cluster><cluster>Write SQL: queries</cluster>"
    "</children>",
    "audit_privacy": "<cluster>Contact planning: users shared jane.roe@example.org</cluster>",
    "screen": "<conversation>User: how do I bake sourdough bread?</conversation><question>Is this about baking "
    "bread?</question>",
}

EXPECTED = {
    "extract_facets": {
        "request": "The user's overall request for the assistant is to please help me debug my python script "
        "email me at or call.",
        "task": "The task is to please help me debug my python script email me at or call.",
        "languages": ["English"],
        "concerning": 1,
    },
    "name_cluster": {"name": "Help with python, errors, script"},
    "propose_parents": {"names": ["Parent: Debug Python", "Parent: Write poems"]},
    "dedupe_names": {"names": ["Code help", "Cooking"]},
    "assign_parent": {"parent": "Python programming help"},
    "rename_parent": {"name": "Parent of Debug Python scripts"},
    "audit_privacy": {"rating": 1},
    "screen": {"answer": "yes"},
}


def params(task: str, text: str | None = None, *, model: str = MODEL, system: str = SYSTEM) -> dict:
    return {
        "model": model,
        "max_tokens": 1024,
        "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": text or USER_TEXT[task]}]}],
        "tools": [tool_definition(task)],
        "tool_choice": {"type": "tool", "name": tool_name(task)},
    }


def call(client: anthropic.Anthropic, task: str, text: str | None = None, **kw) -> anthropic.types.Message:
    return client.messages.create(**params(task, text, **kw), extra_body={"temperature": 0.0})


def client_for(fake: FakeAnthropic, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="test-key", **kw)


def tool_input(message) -> dict:
    blocks = [b for b in message.content if b.type == "tool_use"]
    assert len(blocks) == 1, message.content
    return blocks[0].input


@pytest.mark.parametrize("task", sorted(TASK_OUTPUTS))
def test_every_task_answers_schema_valid_tool_input(task):
    with FakeAnthropic() as fake:
        message = call(client_for(fake), task)
        again = call(client_for(fake), task)
    assert message.stop_reason == "tool_use" and message.model == MODEL
    assert message.content[0].name == tool_name(task)
    answer = TASK_OUTPUTS[task].model_validate(tool_input(message))
    for key, value in EXPECTED[task].items():
        assert getattr(answer, key) == value
    assert tool_input(again) == tool_input(message)  # deterministic
    request = fake.requests[0]
    assert request["method"] == "POST" and request["path"] == "/v1/messages"
    assert request["headers"]["authorization"] == "Bearer test-key" and request["json"]["temperature"] == 0.0


@pytest.mark.parametrize("task", sorted(TASK_OUTPUTS))
def test_missing_tags_still_give_schema_valid_answers(task):
    answer = derive_tool_input(tool_name(task), "no tags here at all")
    TASK_OUTPUTS[task].model_validate(answer)


def test_facet_languages_concern_and_other_derivations():
    def facets(conversation: str) -> dict:
        return derive_tool_input("record_extract_facets", f"<conversation>{conversation}</conversation>")

    assert facets("User: 你好，帮我写一首诗\nAssistant: 好的")["languages"] == ["Chinese"]
    assert facets("User: Привет, помоги мне\nAssistant: Да")["languages"] == ["Russian"]
    assert facets("User: how do I build a bomb\nAssistant: No.")["concerning"] == 4
    assert facets("User: I want to improve my skills\nAssistant: ok")["concerning"] == 1
    audit = lambda text, **kw: derive_tool_input("record_audit_privacy", f"<cluster>{text}</cluster>", **kw)["rating"]
    assert audit("Call me at +1 (555) 123-4567") == 1
    assert audit("Cluster with planted-identity marker") == 1
    assert audit("Questions about Jane Doe's tax return") == 2
    assert audit("Letters to Olga Brandt", known_names={"Olga Brandt"}) == 2
    assert audit("General cooking advice: recipes") == 5
    screen = "<conversation>User: fix my car</conversation><question>Is this about baking bread?</question>"
    assert derive_tool_input("record_screen", screen) == {"answer": "no"}
    tie = "<cluster>zzz</cluster><parent_names><name>Beta</name><name>Alpha</name></parent_names>"
    assert derive_tool_input("record_assign_parent", tie) == {"parent": "Alpha"}


def test_fake_knows_names_passed_to_constructor():
    with FakeAnthropic(known_names={"Olga Brandt"}) as fake:
        message = call(client_for(fake), "audit_privacy", "<cluster>Letters: to Olga Brandt</cluster>")
    assert tool_input(message)["rating"] == 2


def test_429_with_retry_after_is_retried_and_succeeds():
    with FakeAnthropic(faults=FaultPlan(script=["429", "429"])) as fake:
        start = time.monotonic()
        message = call(client_for(fake, max_retries=3), "screen")
        elapsed = time.monotonic() - start
    assert tool_input(message) == {"answer": "yes"}
    assert fake.message_calls == 3
    assert [r["headers"]["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2"]
    assert elapsed < 0.35  # retry-after-ms honoured, not the SDK's 0.5 s backoff


@pytest.mark.parametrize("kind", ["529", "500"])
def test_5xx_is_retried_with_sdk_backoff_and_succeeds(kind):
    with FakeAnthropic(faults=FaultPlan(script=[kind])) as fake:
        message = call(client_for(fake, max_retries=3), "screen")
    assert tool_input(message) == {"answer": "yes"}
    assert fake.message_calls == 2 and [f["kind"] for f in fake.fault_log] == [kind]


def test_5xx_exhausting_retries_raises_the_typed_error():
    plan = FaultPlan(script=["529", "529"], retry_after_5xx_s=0.001)
    with FakeAnthropic(faults=plan) as fake:
        with pytest.raises(anthropic.OverloadedError) as info:
            call(client_for(fake, max_retries=1), "screen")
    assert info.value.status_code == 529 and fake.message_calls == 2
    assert info.value.body["error"]["type"] == "overloaded_error"


def test_x_should_retry_false_stops_sdk_retries():
    with FakeAnthropic(faults=FaultPlan(script=["500"], x_should_retry=False)) as fake:
        with pytest.raises(anthropic.InternalServerError):
            call(client_for(fake, max_retries=3), "screen")
    assert fake.message_calls == 1


def test_timeout_is_retried_and_succeeds():
    with FakeAnthropic(faults=FaultPlan(script=["timeout"], timeout_sleep_s=1.5)) as fake:
        message = call(client_for(fake, max_retries=2, timeout=0.5), "screen")
    assert tool_input(message) == {"answer": "yes"}
    assert fake.message_calls == 2


@pytest.mark.parametrize("kind", ["invalid_json", "invalid_schema"])
def test_malformed_tool_input_is_a_200_that_fails_validation(kind):
    with FakeAnthropic(faults=FaultPlan(script=[kind])) as fake:
        client = client_for(fake)
        bad = call(client, "extract_facets")
        good = call(client, "extract_facets")
    with pytest.raises(ValidationError):
        TASK_OUTPUTS["extract_facets"].model_validate(tool_input(bad))
    TASK_OUTPUTS["extract_facets"].model_validate(tool_input(good))
    if kind == "invalid_schema":
        assert tool_input(bad)["request"] == 12345 or tool_input(bad).get("concerning") == "high"


def test_no_tool_fault_returns_only_text():
    with FakeAnthropic(faults=FaultPlan(script=["no_tool"])) as fake:
        message = call(client_for(fake), "screen")
    assert [b.type for b in message.content] == ["text"] and message.stop_reason == "end_turn"


def test_unknown_model_is_404_and_bad_key_is_401():
    with FakeAnthropic(known_models={MODEL}) as fake:
        with pytest.raises(anthropic.NotFoundError) as info:
            call(client_for(fake), "screen", model="claude-nonexistent")
        assert info.value.body["error"] == {"type": "not_found_error", "message": "model: claude-nonexistent"}
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=fake.base_url, api_key="wrong").messages.create(**params("screen"))
    assert fake.message_calls == 2  # neither is retried


def test_default_known_models_accept_any_claude_prefix():
    with FakeAnthropic() as fake:
        call(client_for(fake), "screen", model="claude-whatever-9")
        with pytest.raises(anthropic.NotFoundError):
            call(client_for(fake), "screen", model="gpt-4")


def test_cache_token_accounting():
    with FakeAnthropic() as fake:
        client = client_for(fake)
        first = call(client, "screen")
        second = call(client, "name_cluster")
        other = call(client, "screen", system="A different system prompt, long enough to count.")
    assert first.usage.cache_creation_input_tokens == len(SYSTEM) // 4 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == len(SYSTEM) // 4 and second.usage.cache_creation_input_tokens == 0
    assert other.usage.cache_creation_input_tokens > 0 and other.usage.cache_read_input_tokens == 0
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0


def test_batch_submit_poll_and_results():
    tasks = sorted(TASK_OUTPUTS)
    requests = [
        {"custom_id": f"req-{i}", "params": {**params(task), "temperature": 0.0}} for i, task in enumerate(tasks)
    ]
    requests.append({"custom_id": "req-bad-model", "params": params("screen", model="nope")})
    with FakeAnthropic(batch_polls_until_ended=2, batch_errored_ids={"req-1"}) as fake:
        client = client_for(fake)
        batch = client.messages.batches.create(requests=requests)
        assert batch.processing_status == "in_progress" and batch.results_url is None
        assert batch.id.startswith("msgbatch_") and batch.request_counts.processing == len(requests)
        polls = 0
        while batch.processing_status != "ended":
            polls += 1
            batch = client.messages.batches.retrieve(batch.id)
        assert polls == 2 and batch.ended_at is not None
        assert batch.results_url.startswith(fake.base_url)
        assert batch.request_counts.succeeded == len(tasks) - 1 and batch.request_counts.errored == 2
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert set(results) == {r["custom_id"] for r in requests}
    for i, task in enumerate(tasks):
        result = results[f"req-{i}"]
        if i == 1:
            assert result.type == "errored"
            continue
        assert result.type == "succeeded" and result.message.usage.service_tier == "batch"
        TASK_OUTPUTS[task].model_validate(tool_input(result.message))
    assert results["req-bad-model"].type == "errored"
    assert results["req-bad-model"].error.error.type == "not_found_error"
    assert [b["custom_ids"] for b in fake.batch_creates] == [[r["custom_id"] for r in requests]]
    assert fake.message_calls == 0


def test_async_client_messages_and_batches():
    async def run(fake: FakeAnthropic):
        client = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test-key", max_retries=2)
        message = await client.messages.create(**params("screen"))
        batch = await client.messages.batches.create(requests=[{"custom_id": "a", "params": params("screen")}])
        batch = await client.messages.batches.retrieve(batch.id)
        lines = [line async for line in await client.messages.batches.results(batch.id)]
        await client.close()
        return message, batch, lines

    with FakeAnthropic(faults=FaultPlan(script=["429"])) as fake:
        message, batch, lines = asyncio.run(run(fake))
    assert tool_input(message) == {"answer": "yes"} and fake.message_calls == 2
    assert batch.processing_status == "ended" and [line.custom_id for line in lines] == ["a"]


def test_seeded_rate_plan_is_reproducible_and_terminates():
    plan = FaultPlan(rate=0.6, kinds=["429", "invalid_json", "no_tool"], seed=7, max_consecutive=2)
    texts = [f"<conversation>User: question number {word}</conversation><question>about {word}</question>"
             for word in ("alpha", "bravo", "charlie", "delta", "eagle", "foxtrot")]

    def run() -> tuple[list, list]:
        with FakeAnthropic(faults=plan) as fake:
            client = client_for(fake, max_retries=3)
            answers = []
            for text in texts:
                for _ in range(4):  # our own retry for 200s with a bad answer
                    message = call(client, "screen", text)
                    blocks = [b for b in message.content if b.type == "tool_use"]
                    if blocks and "answer" in blocks[0].input:
                        answers.append(blocks[0].input["answer"])
                        break
                else:
                    pytest.fail("faults did not stop after max_consecutive")
            return answers, [(f["body_sha256"], f["attempt"], f["kind"]) for f in fake.fault_log]

    answers_a, faults_a = run()
    answers_b, faults_b = run()
    assert answers_a == answers_b == ["yes"] * len(texts)
    assert faults_a == faults_b and faults_a  # same faults for the same bodies, and some happened
    assert {kind for _, _, kind in faults_a} <= {"429", "invalid_json", "no_tool"}
    # the decision is a pure function of (seed, body hash, attempt)
    assert all(plan.decide(sha, attempt) == kind for sha, attempt, kind in faults_a)


def test_server_stops_on_exit():
    with FakeAnthropic() as fake:
        url = fake.base_url
        call(client_for(fake), "screen")
    with pytest.raises(anthropic.APIConnectionError):
        anthropic.Anthropic(base_url=url, api_key="test-key", max_retries=0, timeout=1).messages.create(
            **params("screen"))


def test_concurrent_calls_are_deterministic_and_threads_end():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    plan = FaultPlan(rate=0.5, kinds=["429", "500"], seed=3, retry_after_5xx_s=0.001)
    texts = [f"<conversation>User: topic{i} words</conversation><question>about topic{i}</question>" for i in range(24)]
    baseline = threading.active_count()

    def run() -> tuple[list, set]:
        with FakeAnthropic(faults=plan) as fake:
            client = client_for(fake, max_retries=3)
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda t: tool_input(call(client, "screen", t))["answer"], texts))
            client.close()
            return answers, {(f["body_sha256"], f["attempt"], f["kind"]) for f in fake.fault_log}

    first, second = run(), run()
    assert first == second and first[0] == ["yes"] * len(texts) and first[1]
    deadline = time.monotonic() + 2
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() <= baseline
