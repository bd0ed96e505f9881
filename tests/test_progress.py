"""Progress of long work: the reporter on a fake clock (cadence, rate, ETA, open totals, counters), the terminal
(plain lines, a live bar, quiet), and real stages: `clio run` printing and logging the facets stage's progress,
and the claude backend against the loopback fake, whose progress reports exactly what `llm_usage` records."""

from __future__ import annotations

import io
import re
from datetime import date

import dagster as dg
import duckdb
import numpy as np
import pytest

import clio_dagster.assets as assets
from clio_dagster.cli import main
from clio_dagster.core.embedding_cache import embed_with_cache
from clio_dagster.core.progress import Progress, counter_text, stage_progress, terminal
from clio_dagster.llm.claude import ClaudeBackend
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings
from clio_dagster.storage import Warehouse
from tests import test_claude_backend as claude_tests
from tests.conftest import write_jsonl
from tests.fake_anthropic import FakeAnthropic, FaultPlan
from tests.test_pipeline import _leaks, _sample_records

# The loopback fake of the Anthropic API and an LLM store on a temporary warehouse (tests/test_claude_backend.py).
fake, store = claude_tests.fake, claude_tests.store

DAY = date(2023, 2, 5)
PER_DAY = 40
PLANTED_USER, PLANTED_CONVERSATION = "progress-user-4d1c77", "progress-conversation-9e27b3"
LINE = re.compile(r"^(?P<label>[\w ./-]+?): (?:done, |stopped at )?(?P<done>[\d,]+)/(?P<total>[\d,]+) ")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _reporter(clock: Clock, lines: list[str], **kwargs) -> Progress:
    return Progress(kwargs.pop("stage", "facets"), lines=[lines.append], clock=clock, **kwargs)


# ---- the reporter ----------------------------------------------------------------------------------


def test_lines_come_at_the_cadence_with_counts_rate_and_eta():
    clock, lines = Clock(), []
    report = _reporter(clock, lines, partition="2023-02-05", total=100, unit="conversations", every_seconds=30)
    clock.now += 10
    report.advance(10)
    assert lines == []  # nothing before the first 30 s
    clock.now += 20
    report.advance(20)
    assert lines == ["facets 2023-02-05: 30/100 conversations (30%), 1.0/s, ETA 1m10s"]
    clock.now += 15
    report.advance(15)
    assert len(lines) == 1
    clock.now += 15
    report.advance(15)
    assert lines[-1] == "facets 2023-02-05: 60/100 conversations (60%), 1.0/s, ETA 40s"
    clock.now += 10
    report.advance(40)
    report.close()
    # A stage that reported also reports its end (10 s after the last line: no periodic line in between).
    assert lines[-1] == "facets 2023-02-05: done, 100/100 conversations (100%), in 1m10s, 1.4/s"
    assert len(lines) == 3


def test_a_short_stage_leaves_only_its_end_in_the_log_and_a_failed_one_says_where_it_stopped():
    clock, lines, log = Clock(), [], []
    with _reporter(clock, lines, total=10, every_seconds=30, log=log.append) as report:
        clock.now += 29
        report.advance(10)
    assert lines == [] and log == ["facets: done, 10/10 items (100%), in 29s, 20.7/min"]
    with _reporter(clock, lines, every_seconds=0, log=log.append):
        pass  # counted nothing (a reused day, a namer that makes no calls): nothing to say
    assert lines == [] and len(log) == 1
    with pytest.raises(RuntimeError):
        with _reporter(clock, lines, total=10, unit="conversations", every_seconds=30) as report:
            clock.now += 30
            report.advance(4, failed=1)
            raise RuntimeError("budget reached")
    assert lines == ["facets: 4/10 conversations (40%) | 1 failed",
                     "facets: stopped at 4/10 conversations (40%), in 30s, 8.0/min | 1 failed"]


def test_the_rate_and_eta_follow_the_work_not_the_setup_nor_cache_hits():
    clock, lines = Clock(), []
    report = _reporter(clock, lines, stage="summary_embeddings", unit="texts", every_seconds=0)
    report.set_total(100)
    report.advance(50, timed=False, cache_hits=50, encoded=0)  # at once, from the cache
    clock.now += 60  # the model loads, then encodes its first batch
    report.advance(10, encoded=10)
    clock.now += 10
    report.advance(10, encoded=10)
    # 10 texts encoded in the last 10 s: the 30 left take 30 s (over the whole 70 s with the cache hits: 21 s).
    assert lines[-3:] == ["summary_embeddings: 50/100 texts (50%) | 50 cache hits, 0 encoded",
                          "summary_embeddings: 60/100 texts (60%) | 50 cache hits, 10 encoded",
                          "summary_embeddings: 70/100 texts (70%), 1.0/s, ETA 30s | 50 cache hits, 20 encoded"]
    report.close()
    assert lines[-1] == "summary_embeddings: done, 70/100 texts (70%), in 1m10s, 17.1/min | 50 cache hits, 20 encoded"


def test_work_found_as_the_stage_goes_grows_an_open_total_shown_without_eta():
    clock, lines = Clock(), []
    report = _reporter(clock, lines, stage="hierarchy", unit="requests", every_seconds=0)
    report.expect(4)
    for _ in range(2):
        clock.now += 2
        report.advance(2)
    report.expect(3)
    assert lines == ["hierarchy: 0/4 requests", "hierarchy: 2/4 requests", "hierarchy: 4/4 requests, 1.0/s",
                     "hierarchy: 4/7 requests, 1.0/s"]
    fixed = _reporter(clock, [], total=5)
    fixed.expect(3)  # a stage that knows its total keeps it
    assert fixed.total == 5


def test_live_counters_are_read_at_each_report_and_read_as_money_and_counts():
    clock, lines, spent = Clock(), [], {"cost_usd": 0.0}
    report = _reporter(clock, lines, total=2, every_seconds=0, live=lambda: {**spent, "budget_usd": 5.0})
    spent["cost_usd"] = 0.25
    report.advance()
    assert lines[-1].endswith("| $0.2500 of $5.00 budget")
    assert counter_text({
        "calls": 1234, "input_tokens": 1_200_000, "output_tokens": 3400, "cache_read_tokens": 0,
        "cache_write_tokens": 56, "cost_usd": 1.23456, "budget_usd": 5, "retries": 2, "failed": 1,
        "batch": "msgbatch_01", "batch_counts": {"processing": 40, "succeeded": 60, "errored": 0, "canceled": 0,
                                                 "expired": 0},
    }) == ("1,234 calls, tokens 1,200,000 in / 3,400 out / 56 cache write, $1.2346 of $5.00 budget, 2 retries, "
           "1 failed, batch msgbatch_01: 40 processing, 60 succeeded, 0 errored")


def test_plain_lines_off_a_terminal_a_live_bar_on_one_and_nothing_when_quiet():
    def run_stage():
        with stage_progress("facets", partition="2023-02-05", total=3, unit="conversations",
                            every_seconds=0) as report:
            for _ in range(3):
                report.advance()

    plain = io.StringIO()
    with terminal(plain, tty=False):
        run_stage()
    lines = plain.getvalue().splitlines()
    assert [LINE.match(line)["done"] for line in lines] == ["1", "2", "3", "3"]
    assert lines[-1].startswith("facets 2023-02-05: done, 3/3 conversations (100%)")
    assert "\x1b" not in plain.getvalue()  # no control codes in a log

    bar = io.StringIO()
    with terminal(bar, tty=True):
        run_stage()
    drawn = bar.getvalue()
    assert "\x1b[" in drawn and "facets 2023-02-05 \x1b[90m━" in drawn  # a bar, drawn in place
    # Drawn, not logged: the only plain line is the end of a stage that reported.
    assert "facets 2023-02-05: done, 3/3 conversations (100%)" in drawn and "facets 2023-02-05: 1/3" not in drawn

    quiet = io.StringIO()
    with terminal(quiet, quiet=True):
        run_stage()
    assert quiet.getvalue() == ""


class _StubModel:
    model_name = cache_key = "stub-model"
    batch_size, dim = 2, 3

    def token_counts(self, texts: list[str]) -> list[int]:  # "a" and "bb" one token count, "ccc" and "dddd" the next
        return [(len(t) + 1) // 2 for t in texts]

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_embedding_reports_cache_hits_against_texts_encoded(tmp_path):
    warehouse = Warehouse(tmp_path / "private.duckdb", tmp_path / "public.duckdb", lock_timeout_s=10)
    embed_with_cache(["a", "bb", "ccc"], _StubModel(), warehouse)
    clock, lines = Clock(), []
    report = _reporter(clock, lines, stage="summary_embeddings", unit="texts", every_seconds=0)
    with report:
        result = embed_with_cache(["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "a"], _StubModel(), warehouse,
                                  report=report)
    assert (result.cache_hits, result.encoded) == (3, 3)
    assert (report.done, report.total) == (6, 6)  # distinct texts
    assert report.counters == {"cache_hits": 3, "encoded": 3}
    # Batches by token count: [a, bb] cached, [ccc, dddd] encodes one, [eeeee, ffffff] two.
    assert [int(LINE.match(line)["done"]) for line in lines] == [0, 3, 4, 6, 6]


# ---- real stages -------------------------------------------------------------------------------------


@pytest.fixture
def day_of_conversations(tmp_path, monkeypatch):
    """A day of sample conversations with one planted user and conversation id; the daily graph cut to ingest and
    facets (a stage over enough items to report many times, in seconds: no embedding model)."""
    home = tmp_path / "home"
    records = _sample_records(DAY)[:PER_DAY] + [{
        "id": PLANTED_CONVERSATION, "user_id": PLANTED_USER, "timestamp": f"{DAY}T12:00:00Z",
        "messages": [{"role": "user", "content": "How do I bake sourdough bread at home with rye flour?"}],
    }]
    write_jsonl(home / "landing" / DAY.isoformat() / "day.jsonl", records)
    monkeypatch.setenv("CLIO_HOME", str(home))
    monkeypatch.setenv("CLIO_PROGRESS_EVERY", "0")
    monkeypatch.setattr(assets, "DAILY_ASSETS", [assets.raw_conversations, assets.facets])
    return home, records


def _progress_lines(text_lines, label: str) -> list[str]:
    return [line for line in text_lines if line.startswith(f"{label}: ")]


def _step_log(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id) if not entry.is_dagster_event]


def test_clio_run_prints_and_logs_progress_that_rises_to_the_total_and_holds_no_data(
        day_of_conversations, monkeypatch, capsys):
    home, records = day_of_conversations
    instance = dg.DagsterInstance.ephemeral()  # the runs' event log (a DAGSTER_HOME takes seconds to set up)
    monkeypatch.setattr("clio_dagster.runner._instance", lambda: instance)
    assert main(["run", "--start", DAY.isoformat(), "--end", DAY.isoformat()]) == 0
    out, err = capsys.readouterr()
    assert f"{DAY}: ok" in out and "conversations (" not in out  # stdout keeps only results

    printed = _progress_lines(err.splitlines(), f"facets {DAY}")
    counts = [(int(LINE.match(line)["done"]), int(LINE.match(line)["total"])) for line in printed]
    assert len(counts) >= 2
    assert [done for done, _ in counts] == sorted(done for done, _ in counts)
    assert {total for _, total in counts} == {PER_DAY + 1} and counts[-1][0] == PER_DAY + 1
    assert printed[-1].startswith(f"facets {DAY}: done, {PER_DAY + 1}/{PER_DAY + 1} conversations (100%)")

    (run,) = instance.get_runs()
    logged = _progress_lines(_step_log(instance, run.run_id), f"facets {DAY}")
    instance.dispose()
    assert logged == printed  # the step's log holds the same lines at the same cadence

    with duckdb.connect(str(home / "private.duckdb"), read_only=True) as con:
        hashes = {r[0] for r in con.execute("SELECT DISTINCT user_hash FROM raw_conversations").fetchall()}
    identifiers = {r["id"] for r in records} | {r["user_id"] for r in records} | hashes
    texts = [m["content"] for r in records for m in r["messages"]]
    assert PLANTED_CONVERSATION in identifiers and len(hashes) > 1 and len(texts) > PER_DAY
    everything = "\n".join(printed + logged)
    assert _leaks(everything, identifiers, []) == []
    assert _leaks(" ".join(re.findall(r"\w+", everything)), set(), texts) == []


def test_quiet_prints_no_progress_but_errors_still_print(day_of_conversations, monkeypatch, capsys):
    assert main(["run", "--quiet", "--start", DAY.isoformat(), "--end", DAY.isoformat()]) == 0
    out, err = capsys.readouterr()
    assert f"{DAY}: ok" in out
    assert not _progress_lines((out + err).splitlines(), f"facets {DAY}")
    monkeypatch.delenv("CLIO_HMAC_SECRET")
    assert main(["run", "--quiet", "--start", "2023-02-06", "--end", "2023-02-06"]) == 1
    out = capsys.readouterr().out
    assert "2023-02-06: FAILED in raw_conversations" in out and "CLIO_HMAC_SECRET is not set" in out


_LLM_LINE = re.compile(r"(?P<calls>[\d,]+) calls?, tokens (?P<input>[\d,]+) in / (?P<output>[\d,]+) out"
                       r"(?: / (?P<read>[\d,]+) cache read)?(?: / (?P<write>[\d,]+) cache write)?, "
                       r"\$(?P<cost>[\d.,]+)(?: of \$(?P<budget>[\d.,]+) budget)?, (?P<retries>[\d,]+) retr(?:y|ies)")


def llm_totals(line: str) -> dict:
    """Calls, tokens, dollars and retries from a progress line of an LLM stage."""
    found = _LLM_LINE.search(line).groupdict()
    number = {key: float((value or "0").replace(",", "")) for key, value in found.items() if key != "budget"}
    return {**number, "budget": found["budget"]}


def usage_totals(con, **where) -> dict:
    """The same sums from llm_usage."""
    condition = " AND ".join(f"{column} = ?" for column in where) or "TRUE"
    calls, *tokens, cost = con.execute(
        "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), "
        f"sum(cost_usd) FROM llm_usage WHERE {condition}", list(where.values())).fetchone()
    return {"calls": calls, **dict(zip(("input", "output", "read", "write"), tokens)), "cost": round(cost, 4)}


def test_llm_progress_reports_the_tokens_and_dollars_llm_usage_records(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    home = tmp_path / "home"
    write_jsonl(home / "landing" / DAY.isoformat() / "day.jsonl", _sample_records(DAY)[:PER_DAY])
    plan = FaultPlan(rate=0.3, kinds=("429", "500"), seed=3)
    with FakeAnthropic(faults=plan) as faulty, dg.DagsterInstance.ephemeral() as instance:
        settings = ClioSettings(home=home, llm_backend="claude", claude_base_url=faulty.base_url,
                                claude_max_retries=4, llm_budget_usd=5, progress_every=0)
        result = dg.materialize([assets.raw_conversations, assets.facets], partition_key=DAY.isoformat(),
                                resources=build_resources(settings), instance=instance)
        faults = len(faulty.fault_log)
        lines = _progress_lines(_step_log(instance, result.run_id), f"facets {DAY}")
    assert [int(LINE.match(line)["done"]) for line in lines][-1] == PER_DAY and faults > 0
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        recorded = usage_totals(con, run_id=result.run_id, asset="facets")
    reported = llm_totals(lines[-1])
    assert recorded["calls"] == PER_DAY and recorded["input"] > 0 and recorded["cost"] > 0
    assert {key: reported[key] for key in recorded} == recorded
    assert reported["budget"] == "5.00" and reported["retries"] == faults  # every injected fault was retried
    assert lines[-1].endswith("0 failed")
    # Counts and spend only rise on the way there.
    spent = [llm_totals(line)["cost"] for line in lines]
    assert spent == sorted(spent) and spent[0] == 0


def test_batch_polls_report_the_batch_status_counts(fake, store):
    fake.batch_polls_until_ended = 3
    conversations = claude_tests.CONVERSATIONS
    backend = ClaudeBackend(claude_tests.settings_for(fake, use_batches=True), store)
    lines: list[str] = []
    report = Progress("facets", total=len(conversations), unit="conversations", every_seconds=0,
                      lines=[lines.append], live=backend.progress_counters)
    with report, backend.reporting(report):
        backend.extract_facets(conversations)
    polls = [line for line in lines if " batch msgbatch_" in line]
    n = len(conversations)
    assert f"0/{n} conversations" in polls[0] and f": {n} processing, 0 succeeded, 0 errored" in polls[0]
    assert len(polls) >= 3 and f": 0 processing, {n} succeeded, 0 errored" in polls[-1]
    assert lines[-1].startswith(f"facets: done, {n}/{n} conversations")
    with store.warehouse.connect("private") as con:
        recorded = usage_totals(con, batch=True)
    assert {key: llm_totals(lines[-1])[key] for key in recorded} == recorded
