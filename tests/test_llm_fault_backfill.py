"""LLM faults at a 30% rate (429, 529, 500, timeouts, invalid tool JSON) plus bodies cut off mid-JSON, over a
7-day `clio run` backfill with the claude backend against the loopback fake API: the backfill completes
and every table of both DBs is identical to a fault-free backfill's."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from clio_dagster.cli import main
from tests.conftest import write_jsonl
from tests.fake_anthropic import FakeAnthropic, FaultPlan, _Reply
from tests.test_crash_safety import _dump
from tests.test_monitoring import DAYS, build_days

SECRET = "fault-backfill-secret-0123456789"
FAULTS = FaultPlan(rate=0.3, kinds=("429", "529", "500", "timeout", "invalid_json"), seed=11,
                   retry_after_s=0.01, retry_after_5xx_s=0.01, timeout_sleep_s=1.5)
GARBLE_RATE = 0.03


class GarblingFake(FakeAnthropic):
    """The fake, also answering some calls with status 200 and a body that is not JSON (as a broken proxy
    might): the first `garble_first` attempts of every request, then a seeded choice from the request body
    and its attempt number, like FaultPlan's."""

    def __init__(self, garble_rate: float = 0.0, seed: int = 0, garble_first: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.garble_rate, self.garble_seed, self.garble_first = garble_rate, seed, garble_first
        self.garbled = 0
        self._garble_attempts: Counter[str] = Counter()

    def handle(self, method, path, headers, raw):
        if path == "/v1/messages" and raw:
            body_sha = hashlib.sha256(raw).hexdigest()
            with self._lock:
                attempt = self._garble_attempts[body_sha]
                self._garble_attempts[body_sha] += 1
            digest = hashlib.sha256(f"{self.garble_seed}|{body_sha}|{attempt}".encode()).digest()
            if attempt < self.garble_first or int.from_bytes(digest[:8], "big") / 2**64 < self.garble_rate:
                reply = super().handle(method, path, headers, raw)
                if reply.status == 200:
                    with self._lock:
                        self.garbled += 1
                    # Two JSON documents back to back: a body no JSON parser accepts.
                    return _Reply(200, [reply.body, reply.body], {"content-type": "application/json"}, jsonl=True)
                return reply
        return super().handle(method, path, headers, raw)


def _backfill(home, fake, monkeypatch) -> None:
    for key, value in {
        "CLIO_HOME": str(home), "CLIO_HMAC_SECRET": SECRET, "CLIO_LLM_BACKEND": "claude",
        "CLIO_CLAUDE_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "test-key", "CLIO_CLAUDE_MAX_RETRIES": "6",
        "CLIO_CLAUDE_TIMEOUT_S": "1.0", "CLIO_MIN_UNIQUE_USERS": "3", "CLIO_MIN_CONVERSATIONS": "5",
        "CLIO_TARGET_CLUSTER_SIZE": "15", "CLIO_HIERARCHY_LEVELS": "2",
    }.items():
        monkeypatch.setenv(key, value)
    assert main(["run", "--start", str(DAYS[0]), "--end", str(DAYS[-1])]) == 0


@pytest.fixture(scope="module")
def days():
    return build_days(per_base=24, per_python=4, garden=10, knit=4)


def _stage(home, days) -> None:
    for day, records in days.items():
        write_jsonl(home / "landing" / day.isoformat() / "day.jsonl", records)


@pytest.mark.slow
def test_faulty_backfill_completes_with_the_fault_free_output(tmp_path, monkeypatch, days, capsys):
    clean_home, faulty_home = tmp_path / "clean", tmp_path / "faulty"
    _stage(clean_home, days)
    _stage(faulty_home, days)
    with FakeAnthropic() as clean:
        _backfill(clean_home, clean, monkeypatch)
    with GarblingFake(GARBLE_RATE, seed=5, faults=FAULTS) as faulty:
        _backfill(faulty_home, faulty, monkeypatch)
    out = capsys.readouterr().out
    day_lines = [line.split(":")[0] for line in out.splitlines() if ": ok" in line and line[:1].isdigit()]
    assert day_lines == [str(d) for d in DAYS] * 2
    assert out.count("topic_registry: ok") == 2  # each run refreshes the registry after its days

    # The faults really happened, of every kind, across the whole backfill.
    kinds = Counter(f["kind"] for f in faulty.fault_log)
    assert set(kinds) == set(FAULTS.kinds), kinds
    assert faulty.garbled > 0
    fault_share = (len(faulty.fault_log) + faulty.garbled) / faulty.message_calls
    assert 0.2 < fault_share < 0.4, fault_share

    expected, got = _dump(clean_home), _dump(faulty_home)
    assert sorted(got) == sorted(expected)
    assert expected["private.llm_failures"] == [] and got["private.llm_failures"] == []
    assert len({row[0] for row in got["public.published_clusters"]}) == len(DAYS)
    for table, rows in expected.items():
        if table == "private.llm_usage":
            continue  # the faulty run paid for its failed attempts too: compared below
        assert got[table] == rows, table
    # Every answered item is cached once: the retries added usage rows, never cache entries.
    answered = Counter(json.dumps(row[:4]) for row in got["private.llm_cache"])
    assert set(answered.values()) == {1}
    outcomes = Counter(row[-1] for row in got["private.llm_usage"])
    assert outcomes["ok"] == len(expected["private.llm_usage"]) and outcomes["invalid"] > 0


def test_a_body_that_is_not_json_is_sent_again():
    from clio_dagster.llm import TaskFailure
    from clio_dagster.llm.claude import GARBLED_RESPONSE_RETRIES, ClaudeBackend
    from tests.test_claude_backend import CONVERSATIONS, settings_for

    with FakeAnthropic() as clean:
        expected = ClaudeBackend(settings_for(clean)).extract_facets(CONVERSATIONS[:3])
    with GarblingFake(garble_first=GARBLED_RESPONSE_RETRIES) as fake:
        assert ClaudeBackend(settings_for(fake)).extract_facets(CONVERSATIONS[:3]) == expected
        assert fake.garbled == 3 * GARBLED_RESPONSE_RETRIES
    # Garbled every time: the item fails (the run goes on), and the error says so without quoting the body.
    with GarblingFake(garble_first=GARBLED_RESPONSE_RETRIES + 1) as fake:
        (failure,) = ClaudeBackend(settings_for(fake)).extract_facets(CONVERSATIONS[:1])
    assert isinstance(failure, TaskFailure) and failure.reason == "garbled_response"
    assert "request" not in failure.detail and "{" not in failure.detail
