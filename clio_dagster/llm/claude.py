"""The `claude` backend: Clio's LLM tasks through the anthropic SDK.

Every call is a forced tool call whose schema comes from `llm.schemas`, validated with pydantic; an invalid
answer is sent back with the validation error (up to `max_repairs` times), then recorded as a failure for
that item. Fixed instructions go in a cached system prompt. Calls run concurrently (bounded), the SDK retries
429/529/5xx and timeouts honouring `retry-after` (a 200 whose body is not JSON is re-sent here), and every
answer is journaled the moment it arrives and cached by (task, prompt version, model, input hash), so a
re-run or a resume after a crash, even a SIGKILL, pays for nothing twice. Facet extraction can go
through the Message Batches API (half price); submitted batch ids are stored before polling, so a process
that dies between submit and collect resumes the same batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
from pydantic import BaseModel, ValidationError

from clio_dagster.core.custom_facets import CustomFacet
from clio_dagster.core.hierarchy import ParentBuilder
from clio_dagster.core.language import detect_language
from clio_dagster.core.naming import ClusterName
from clio_dagster.core.progress import BATCH_STATUSES
from clio_dagster.core.records import Conversation
from clio_dagster.core.transcript import format_transcript
from clio_dagster.llm.auditing import LLMAuditor
from clio_dagster.llm.hierarchy import LLMParentBuilder
from clio_dagster.llm.base import FacetResult, LLMBackend, NamingInput, PrivacyAuditor, Regeneration, TaskFailure
from clio_dagster.llm.regeneration import regenerate_with_llm
from clio_dagster.llm.pricing import ModelPrice, TokenUsage, price_for
from clio_dagster.llm.schemas import TASK_OUTPUTS, FacetsOutput, facets_output, tool_definition, tool_name
from clio_dagster.llm.store import CacheKey, LLMStore, UsageRow
from clio_dagster.llm.templates import PromptTemplate, escape_data, load_template

NAMING_METHOD = "llm: Clio contrastive cluster naming"
FACETS_METHOD = "llm: Clio facets in one structured call"
# Results are journaled one by one as they arrive (see llm/store.py) and committed to the cache in groups
# this size (and whenever a task finishes).
FLUSH_EVERY = 25
# A response the SDK could not even parse (a garbled or cut-off body with status 200) is not retried by the
# SDK; it is a transient server fault, so it is re-sent this many times with a short backoff.
GARBLED_RESPONSE_RETRIES = 3


class ClaudeError(RuntimeError):
    """A problem the user must fix (key, model id, budget); the message says what to do."""


class BudgetExceeded(ClaudeError):
    pass


@dataclass(frozen=True)
class ClaudeSettings:
    # Never in a repr, a log line or an exception message.
    api_key: str = field(repr=False)
    base_url: str | None
    models: dict[str, str]
    temperatures: dict[str, float]
    max_tokens: dict[str, int]
    prices: dict[str, ModelPrice]
    max_concurrency: int = 8
    max_retries: int = 6
    timeout_s: float = 120.0
    use_batches: bool = False
    batch_poll_interval_s: float = 30.0
    batch_max_requests: int = 10_000
    conversation_token_budget: int = 8_000
    budget_usd: float | None = None
    seed: int = 0
    # An answer that fails validation is sent back with the error this many times before the item fails.
    max_repairs: int = 3


@dataclass
class _Ledger:
    calls: int = 0
    cache_hits: int = 0
    batch_requests: int = 0
    failures: int = 0
    # Requests sent again: by the SDK (429, 5xx, timeouts, connection errors) and here (a garbled response).
    retries: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float = 0.0


def _input_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _data(text: str) -> str:
    return escape_data(text)


def _items(tag: str, items: Sequence[str]) -> str:
    return "\n".join(f"<{tag}>{escape_data(item)}</{tag}>" for item in items)


def _feedback(reason: str | None) -> str:
    if not reason:
        return ""
    return (f"A privacy auditor rejected an earlier name for this group: {escape_data(reason)} "
            "Write a summary and a name that avoid it.")


def _validation_message(exc: ValidationError) -> str:
    # Field locations and rules only: never the model's (possibly data-bearing) input values.
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)
    )


@dataclass(frozen=True)
class _Request:
    """One item of a task: what to send and how to find it in the cache."""

    item_id: str
    task: str
    user_text: str
    key: CacheKey
    # A facet call that asks custom facets: its own output model and system note, and how its answer splits into
    # cache entries (the built-in facets, then one per custom facet), so a changed question re-asks that one only.
    output: type[BaseModel] | None = None
    system_note: str = ""
    split: Callable[[BaseModel], list[tuple[CacheKey, dict]]] | None = None

    @property
    def output_model(self) -> type[BaseModel]:
        return self.output or TASK_OUTPUTS[self.task]


class ClaudeBackend(LLMBackend):
    """Also the shared machinery of the LLM backends (requests from the versioned prompts, cache, journal, usage,
    budget, concurrency, the repair loop and Clio's tasks): a subclass swaps the transport hooks (`_async_client`,
    `_send`, `_params`, `_parse`, `_repair_messages`, `_token_usage`, `_raise_for_config`), as
    `llm.openai_compatible` does."""

    name = "claude"
    heuristic = False
    contrastive = True
    # The SDK's exceptions: a configuration problem (raised at once), a failed request (the item fails after the
    # SDK's retries), and a body it could not parse (re-sent here).
    config_errors: tuple[type[Exception], ...] = (
        anthropic.AuthenticationError, anthropic.PermissionDeniedError, anthropic.NotFoundError)
    request_errors: tuple[type[Exception], ...] = (anthropic.APIStatusError, anthropic.APIConnectionError)
    garbled_errors: tuple[type[Exception], ...] = (ValueError, anthropic.APIResponseValidationError)

    def __init__(self, settings: ClaudeSettings, store: LLMStore | None = None,
                 custom_facets: Sequence[CustomFacet] = ()):
        self._check_key(settings)
        self.settings = settings
        self.store = store
        self.custom_facets = tuple(custom_facets)
        self.ledger = _Ledger()
        self._pending_cache: list[tuple[CacheKey, dict]] = []
        self._pending_usage: list[UsageRow] = []
        self._reserved_usd = 0.0
        self._budget_message: str | None = None

    @property
    def naming_method(self) -> str:
        """How base clusters are named, with the backend and model that write the names (shown in the explorer)."""
        return f"{NAMING_METHOD} ({self.name}: {self.settings.models['name_cluster']})"

    def _check_key(self, settings: ClaudeSettings) -> None:
        if not settings.api_key:
            raise ClaudeError(
                "The claude backend needs ANTHROPIC_API_KEY. Export your key, or set CLIO_LLM_BACKEND=offline."
            )

    # ---- clients -------------------------------------------------------------------------------
    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.settings.api_key,
            "base_url": self.settings.base_url,
            "max_retries": self.settings.max_retries,
            "timeout": self.settings.timeout_s,
        }

    def _count_retry(self, request: Any) -> None:
        # The SDK numbers each attempt of a request in this header (0 for the first); it has no retry callback.
        if request.headers.get("x-stainless-retry-count", "0") != "0":
            self.ledger.retries += 1

    def _async_client(self) -> anthropic.AsyncAnthropic:
        async def on_request(request: Any) -> None:
            self._count_retry(request)

        http = anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [on_request]})
        return anthropic.AsyncAnthropic(**self._client_kwargs(), http_client=http)

    def _sync_client(self) -> anthropic.Anthropic:
        http = anthropic.DefaultHttpxClient(event_hooks={"request": [self._count_retry]})
        return anthropic.Anthropic(**self._client_kwargs(), http_client=http)

    # ---- requests ------------------------------------------------------------------------------
    def _template(self, task: str) -> PromptTemplate:
        return load_template(task)

    def _request(self, task: str, item_id: str, **values: str) -> _Request:
        """`values` are already escaped (see `_data` and `_items`): the template adds only our own tags."""
        template = self._template(task)
        user_text = template.render_user(**values)
        model = self.settings.models[task]
        key = CacheKey(task, template.version, model, _input_hash(template.version, model, user_text))
        return _Request(item_id=item_id, task=task, user_text=user_text, key=key)

    def _system(self, request: _Request) -> str:
        """The task's fixed instructions, plus what this request adds (a facet call's custom questions)."""
        system = self._template(request.task).system
        return system + (f"\n\n{request.system_note}" if request.system_note else "")

    def _params(self, request: _Request, extra_messages: list[dict] | None = None) -> dict[str, Any]:
        """The request body as sent on the wire (also a batch request's `params`)."""
        system = self._system(request)
        return {
            "model": request.key.model,
            "max_tokens": self.settings.max_tokens[request.task],
            "temperature": self.settings.temperatures[request.task],
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": request.user_text}]}]
            + (extra_messages or []),
            "tools": [tool_definition(request.task, request.output)],
            "tool_choice": {"type": "tool", "name": tool_name(request.task)},
        }

    def _parse(self, request: _Request, message: Any) -> tuple[BaseModel | None, str | None, Any]:
        """(validated output, error text, the tool_use block) for one API message."""
        task = request.task
        content = getattr(message, "content", None)
        block = next(
            (b for b in (content if isinstance(content, list) else [])
             if getattr(b, "type", None) == "tool_use" and getattr(b, "name", None) == tool_name(task)),
            None,
        )
        if block is None:
            return None, f"no {tool_name(task)} tool call in the answer", None
        try:
            return request.output_model.model_validate(block.input), None, block
        except ValidationError as exc:
            return None, _validation_message(exc), block

    # ---- accounting ----------------------------------------------------------------------------
    def _token_usage(self, usage: Any) -> TokenUsage:
        """The tokens of one response's `usage`, as the API reports them."""
        return TokenUsage(
            input_tokens=getattr(usage, "input_tokens", 0) or 0,
            output_tokens=getattr(usage, "output_tokens", 0) or 0,
            cache_write_tokens=getattr(usage, "cache_creation_input_tokens", 0) or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
        )

    def _account(self, task: str, model: str, usage: Any, batch: bool, latency_ms: float | None, outcome: str) -> None:
        tokens = self._token_usage(usage)
        cost = tokens.cost(price_for(model, self.settings.prices), batch=batch)
        ledger = self.ledger
        ledger.calls += 1
        ledger.cost_usd += cost
        ledger.usage = TokenUsage(
            ledger.usage.input_tokens + tokens.input_tokens,
            ledger.usage.output_tokens + tokens.output_tokens,
            ledger.usage.cache_write_tokens + tokens.cache_write_tokens,
            ledger.usage.cache_read_tokens + tokens.cache_read_tokens,
        )
        row = UsageRow(task, model, batch, tokens.input_tokens, tokens.output_tokens, tokens.cache_write_tokens,
                       tokens.cache_read_tokens, latency_ms, cost, outcome)
        if self.store is not None:
            self.store.journal(usage=[row])
        self._pending_usage.append(row)

    def _estimated_cost(self, request: _Request, batch: bool = False) -> float:
        prompt_tokens = (len(request.user_text) + len(self._template(request.task).system)) // 4
        tokens = TokenUsage(input_tokens=prompt_tokens, output_tokens=self.settings.max_tokens[request.task])
        return tokens.cost(price_for(request.key.model, self.settings.prices), batch=batch)

    def _check_budget(self, upcoming_cost: float) -> None:
        if self._budget_message is not None:
            raise BudgetExceeded(self._budget_message)
        budget = self.settings.budget_usd
        if budget is not None and self.ledger.cost_usd + upcoming_cost > budget:
            self._budget_message = (
                f"LLM budget reached: ${self.ledger.cost_usd:.4f} spent of ${budget:.2f} in this run, and the next "
                f"request could cost up to ${upcoming_cost:.4f}. Finished items are cached; raise "
                "CLIO_LLM_BUDGET_USD and re-run to continue where this run stopped."
            )
            raise BudgetExceeded(self._budget_message)

    def flush(self) -> None:
        if self.store is not None:
            self.store.save_results(self._pending_cache, self._pending_usage)
        self._pending_cache.clear()
        self._pending_usage.clear()

    def _flush_and_close_journal(self) -> None:
        committed = False
        try:
            self.flush()
            committed = True
        finally:
            if self.store is not None:
                # A journal that could not be committed stays on disk for the next run to replay.
                self.store.close_journal(committed=committed)

    def usage_metadata(self) -> dict[str, Any]:
        ledger = self.ledger
        return {
            "llm_calls": ledger.calls,
            "llm_cache_hits": ledger.cache_hits,
            "llm_batch_requests": ledger.batch_requests,
            "llm_failures": ledger.failures,
            "llm_input_tokens": ledger.usage.input_tokens,
            "llm_output_tokens": ledger.usage.output_tokens,
            "llm_cache_write_tokens": ledger.usage.cache_write_tokens,
            "llm_cache_read_tokens": ledger.usage.cache_read_tokens,
            "llm_cost_usd": round(ledger.cost_usd, 6),
        }

    def progress_counters(self) -> dict[str, Any]:
        """This backend's calls, tokens and spend so far (the same sums as its rows in llm_usage), against the
        budget, its retries and the items it could not answer."""
        ledger = self.ledger
        return {"calls": ledger.calls, "input_tokens": ledger.usage.input_tokens,
                "output_tokens": ledger.usage.output_tokens, "cache_read_tokens": ledger.usage.cache_read_tokens,
                "cache_write_tokens": ledger.usage.cache_write_tokens, "cost_usd": ledger.cost_usd,
                "budget_usd": self.settings.budget_usd, "retries": ledger.retries, "failed": ledger.failures}

    # ---- running requests ----------------------------------------------------------------------
    def _remember(self, request: _Request, output: BaseModel) -> None:
        entries = request.split(output) if request.split else [(request.key, output.model_dump())]
        if self.store is not None:
            # On disk before anything else happens: a kill from here on never costs this answer again.
            self.store.journal(cache=entries)
        self._pending_cache.extend(entries)
        if len(self._pending_cache) >= FLUSH_EVERY:
            self.flush()

    def _lookup_cache(self, requests: Sequence[_Request]) -> dict[str, dict]:
        """item_id → cached output, for the requests already answered in an earlier run."""
        if self.store is None or not requests:
            return {}
        found: dict[str, dict] = {}
        by_group: dict[tuple[str, str, str], list[_Request]] = {}
        for r in requests:
            by_group.setdefault((r.key.task, r.key.prompt_version, r.key.model), []).append(r)
        for (task, version, model), group in by_group.items():
            cached = self.store.cached(task, version, model, [r.key.input_hash for r in group])
            found.update({r.item_id: cached[r.key.input_hash] for r in group if r.key.input_hash in cached})
        return found

    def _raise_for_config(self, exc: Exception, model: str) -> None:
        if isinstance(exc, anthropic.AuthenticationError):
            raise ClaudeError("The API rejected ANTHROPIC_API_KEY (401): check the key, or CLIO_CLAUDE_BASE_URL.") from None
        if isinstance(exc, anthropic.PermissionDeniedError):
            raise ClaudeError("The API key may not use this model or endpoint (403): check your plan.") from None
        if isinstance(exc, anthropic.NotFoundError):
            raise ClaudeError(
                f"Model {model!r} was not found (404). Set CLIO_CLAUDE_MODEL_FACETS / CLIO_CLAUDE_MODEL_REASONING "
                "to a model id your account can use."
            ) from None

    async def _send(self, client: anthropic.AsyncAnthropic, params: dict[str, Any]) -> Any:
        """One request through the SDK (which retries statuses and timeouts)."""
        # This SDK's create() has no temperature argument; the API still takes it in the body.
        params = dict(params)
        temperature = params.pop("temperature")
        return await client.messages.create(**params, extra_body={"temperature": temperature})

    async def _create(self, client: Any, params: dict[str, Any]) -> Any:
        """`_send`, re-sending a response the SDK could not parse (it retries statuses and timeouts only)."""
        for attempt in range(GARBLED_RESPONSE_RETRIES + 1):
            try:
                return await self._send(client, params)
            except self.garbled_errors:
                if attempt == GARBLED_RESPONSE_RETRIES:
                    raise
                self.ledger.retries += 1
                await asyncio.sleep(min(0.25 * 2**attempt, 4.0))
        raise AssertionError("unreachable")

    async def _call_one(self, client: anthropic.AsyncAnthropic, semaphore: asyncio.Semaphore, request: _Request) -> BaseModel | TaskFailure:
        extra: list[dict] = []
        last_error = ""
        for attempt in range(1 + self.settings.max_repairs):
            async with semaphore:
                # Checked once a slot is free, counting what in-flight calls may still cost.
                estimate = self._estimated_cost(request)
                try:
                    self._check_budget(estimate + self._reserved_usd)
                except BudgetExceeded:
                    # Calls already in flight finish (and are cached); no new call starts.
                    return TaskFailure(request.item_id, "budget", "not sent: budget reached")
                self._reserved_usd += estimate
                started = time.perf_counter()
                try:
                    message = await self._create(client, self._params(request, extra))
                except self.config_errors as exc:
                    self._raise_for_config(exc, request.key.model)
                    raise
                except self.request_errors as exc:
                    # The SDK already retried with backoff; this item fails, the run goes on.
                    status = getattr(exc, "status_code", None)
                    self._account(request.task, request.key.model, None, False, None, "api_error")
                    return TaskFailure(request.item_id, "api_error", f"{type(exc).__name__} (status {status}) after retries")
                except self.garbled_errors as exc:
                    # Type only: a parser's message can quote the body it choked on.
                    self._account(request.task, request.key.model, None, False, None, "api_error")
                    return TaskFailure(request.item_id, "garbled_response",
                                       f"{type(exc).__name__}: unparseable response after retries")
                finally:
                    self._reserved_usd -= estimate
                latency_ms = (time.perf_counter() - started) * 1000
            output, error, block = self._parse(request, message)
            self._account(request.task, request.key.model, getattr(message, "usage", None), False, latency_ms,
                          "ok" if output is not None else "invalid")
            if output is not None:
                self._remember(request, output)
                return output
            last_error = error or "invalid answer"
            extra = self._repair_messages(request, block, last_error)
        return TaskFailure(request.item_id, "invalid_output", last_error)

    def _repair_messages(self, request: _Request, block: Any, error: str) -> list[dict]:
        """The turns that show the model its invalid answer and the validation error, to answer again."""
        if block is None:
            return [{"role": "assistant", "content": [{"type": "text", "text": "(no tool call)"}]},
                    {"role": "user", "content": [{"type": "text", "text":
                     f"You must answer with the {tool_name(request.task)} tool."}]}]
        return [
            {"role": "assistant", "content": [{"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "is_error": True,
                                           "content": f"Invalid input: {error}. Call the tool again with valid input."}]},
        ]

    async def _answer(self, client: anthropic.AsyncAnthropic, semaphore: asyncio.Semaphore,
                      request: _Request) -> BaseModel | TaskFailure:
        result = await self._call_one(client, semaphore, request)
        # Only interactive calls end an item as a failure (a batch's failures are sent again interactively).
        self.ledger.failures += int(isinstance(result, TaskFailure))
        self._finished(1)
        return result

    async def _run_interactive(self, requests: Sequence[_Request]) -> dict[str, BaseModel | TaskFailure]:
        semaphore = asyncio.Semaphore(self.settings.max_concurrency)
        async with self._async_client() as client:
            tasks = [asyncio.ensure_future(self._answer(client, semaphore, r)) for r in requests]
            try:
                results = await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        if self._budget_message is not None:
            raise BudgetExceeded(self._budget_message)
        return {r.item_id: result for r, result in zip(requests, results)}

    def run(self, requests: Sequence[_Request], use_batches: bool = False, scope: str = "") -> dict[str, BaseModel | TaskFailure]:
        """Answer every request: cache first, then the Batches API or interactive calls; failures come back
        as TaskFailure values and everything valid is cached before this returns (or raises)."""
        outputs: dict[str, BaseModel | TaskFailure] = {}
        if self.progress is not None:
            self.progress.expect(len(requests))
        cached = self._lookup_cache(requests)
        for r in requests:
            if r.item_id in cached:
                outputs[r.item_id] = r.output_model.model_validate(cached[r.item_id])
        self.ledger.cache_hits += len(cached)
        # Answered by an earlier run: done, but no work (the rate and the ETA follow the calls).
        self._finished(len(cached), timed=False)
        todo = [r for r in requests if r.item_id not in outputs]
        try:
            if todo and use_batches:
                batch_outputs = self._run_batches(todo, scope)
                outputs.update({k: v for k, v in batch_outputs.items() if not isinstance(v, TaskFailure)})
                todo = [r for r in todo if r.item_id not in outputs]
            if todo:
                outputs.update(asyncio.run(self._run_interactive(todo)))
        finally:
            self._flush_and_close_journal()
        return outputs

    # ---- Message Batches -----------------------------------------------------------------------
    def _run_batches(self, requests: Sequence[_Request], scope: str) -> dict[str, BaseModel | TaskFailure]:
        with self._sync_client() as client:
            return self._batches(client, requests, scope)

    def _batches(self, client: anthropic.Anthropic, requests: Sequence[_Request],
                 scope: str) -> dict[str, BaseModel | TaskFailure]:
        by_custom_id = {r.key.input_hash[:64]: r for r in requests}
        outputs: dict[str, BaseModel | TaskFailure] = {}
        task = requests[0].task
        resumed = self.store.open_batch(task, scope) if self.store else None
        pending: list[tuple[str, list[str]]] = []
        if resumed and set(resumed[1]) <= set(by_custom_id):
            pending.append(resumed)
        else:
            if resumed and self.store:
                self.store.close_batch(resumed[0], "abandoned")
            ids = list(by_custom_id)
            self._check_budget(sum(self._estimated_cost(by_custom_id[i], batch=True) for i in ids))
            for start in range(0, len(ids), self.settings.batch_max_requests):
                chunk = ids[start : start + self.settings.batch_max_requests]
                try:
                    batch = client.messages.batches.create(
                        requests=[{"custom_id": cid, "params": self._params(by_custom_id[cid])} for cid in chunk]
                    )
                except (anthropic.AuthenticationError, anthropic.PermissionDeniedError, anthropic.NotFoundError) as exc:
                    self._raise_for_config(exc, requests[0].key.model)
                    raise
                if self.store:
                    self.store.save_batch(batch.id, task, scope, chunk)
                pending.append((batch.id, chunk))
        for batch_id, _ in pending:
            # Items a batch ended count as done while it runs; once collected, only those answered validly
            # (the others go on to interactive calls, which report them).
            base = self.progress.done if self.progress is not None else 0
            answered = 0
            while not self._batch_polled(client.messages.batches.retrieve(batch_id), base):
                time.sleep(self.settings.batch_poll_interval_s)
            for entry in client.messages.batches.results(batch_id):
                request = by_custom_id.get(entry.custom_id)
                if request is None:
                    continue
                self.ledger.batch_requests += 1
                if entry.result.type != "succeeded":
                    outputs[request.item_id] = TaskFailure(request.item_id, "batch_" + entry.result.type, "batch request did not succeed")
                    continue
                message = entry.result.message
                output, error, _ = self._parse(request, message)
                self._account(task, request.key.model, message.usage, True, None, "ok" if output else "invalid")
                if output is None:
                    outputs[request.item_id] = TaskFailure(request.item_id, "invalid_output", error or "")
                else:
                    outputs[request.item_id] = output
                    self._remember(request, output)
                    answered += 1
            self.flush()
            if self.store:
                self.store.close_batch(batch_id)
            if self.progress is not None:
                self.progress.note(done=base + answered)
        return outputs

    def _batch_polled(self, batch: Any, base: int) -> bool:
        """Report a batch's status counts at a poll; whether it has ended."""
        counts = getattr(batch, "request_counts", None)
        if self.progress is not None and counts is not None:
            values = {status: int(getattr(counts, status, 0) or 0) for status in BATCH_STATUSES}
            self.progress.note(done=base + sum(values.values()) - values["processing"], batch=batch.id,
                               batch_counts=values)
        return batch.processing_status == "ended"

    # ---- Clio tasks ----------------------------------------------------------------------------
    def extract_facets(self, conversations: Sequence[Conversation]) -> list[FacetResult | TaskFailure]:
        requests, truncated = [], {}
        for conversation in conversations:
            transcript = format_transcript(conversation, self.settings.conversation_token_budget)
            truncated[conversation.conversation_id] = transcript.truncated
            note = (
                f"(The conversation was shortened to fit: the first request and the last turns are shown; "
                f"{transcript.omitted_turns} turn(s) in between were left out.)"
                if transcript.truncated else ""
            )
            requests.append(self._request("extract_facets", conversation.conversation_id,
                                          conversation=_data(transcript.text), truncation_note=note))
        scope = self._scope("extract_facets")
        if self.custom_facets:
            outputs, custom = self._facets_with_custom(requests, scope)
        else:
            outputs, custom = self.run(requests, use_batches=self.settings.use_batches, scope=scope), {}
        results: list[FacetResult | TaskFailure] = []
        for conversation in conversations:
            output = outputs[conversation.conversation_id]
            if isinstance(output, TaskFailure):
                results.append(output)
                continue
            detected = detect_language(" ".join(conversation.user_texts())[:2000])
            results.append(
                FacetResult(
                    request=output.request,
                    task=output.task,
                    language=", ".join(output.languages),
                    language_code=detected.code,
                    language_confidence=detected.confidence,
                    concerning=output.concerning,
                    redactions=0,
                    summary_truncated=False,
                    input_truncated=truncated[conversation.conversation_id],
                    method=FACETS_METHOD,
                    custom=custom.get(conversation.conversation_id, {}),
                )
            )
        return results

    def _custom_key(self, core: CacheKey, facet: CustomFacet) -> CacheKey:
        """A custom facet's answer is cached on its own, by its definition's version and the conversation."""
        return CacheKey(f"facet:{facet.name}", f"{core.prompt_version}.{facet.version()}", core.model, core.input_hash)

    def _facets_with_custom(self, requests: list[_Request],
                            scope: str) -> tuple[dict[str, BaseModel | TaskFailure], dict[str, dict[str, Any]]]:
        """The built-in facets (item id → FacetsOutput or failure) and the custom answers (item id → name →
        answer), each part from the cache where an earlier run answered it; one call per conversation asks all
        its missing parts, with one tool field per missing custom facet."""
        core = {cid: FacetsOutput.model_validate(v) for cid, v in self._lookup_cache(requests).items()}
        answers: dict[str, dict[str, Any]] = {r.item_id: {} for r in requests}
        for facet in self.custom_facets:
            keyed = [_Request(r.item_id, r.task, "", self._custom_key(r.key, facet)) for r in requests]
            for cid, cached in self._lookup_cache(keyed).items():
                answers[cid][facet.name] = cached["answer"]
        calls = []
        for r in requests:
            missing = tuple(f for f in self.custom_facets if f.name not in answers[r.item_id])
            if r.item_id in core and not missing:
                continue
            calls.append(self._facet_call(r, r.item_id not in core, missing))
        done = len(requests) - len(calls)
        if self.progress is not None:
            self.progress.expect(done)
        self.ledger.cache_hits += done
        self._finished(done, timed=False)
        outputs: dict[str, BaseModel | TaskFailure] = dict(core)
        answered = self.run(calls, use_batches=self.settings.use_batches, scope=scope) if calls else {}
        for cid, output in answered.items():
            if isinstance(output, TaskFailure):
                outputs[cid] = output
                continue
            fields = output.model_dump()
            if cid not in core:
                outputs[cid] = FacetsOutput.model_validate({k: fields[k] for k in FacetsOutput.model_fields})
            answers[cid].update({f.name: fields[f.name] for f in self.custom_facets if f.name in fields})
        return outputs, answers

    def _facet_call(self, core: _Request, with_core: bool, custom: tuple[CustomFacet, ...]) -> _Request:
        """The one facet call for a conversation's missing parts: the built-in facets (`with_core`) and `custom`."""
        if not custom:
            return core
        version = ".".join([core.key.prompt_version, "core" * with_core] + [f.version() for f in custom])
        key = CacheKey(core.key.task, version, core.key.model, _input_hash(version, core.key.model, core.user_text))
        note = "Also record these questions about the conversation, one tool field each:\n" + "\n".join(
            f"- {f.name}: {f.instruction()}" for f in custom)
        core_key = core.key

        def split(output: BaseModel) -> list[tuple[CacheKey, dict]]:
            fields = output.model_dump()
            entries = [(core_key, {k: fields[k] for k in FacetsOutput.model_fields})] if with_core else []
            return entries + [(self._custom_key(core_key, f), {"answer": fields[f.name]}) for f in custom]

        return _Request(core.item_id, core.task, core.user_text, key, output=facets_output(with_core, custom),
                        system_note=note, split=split)

    def _scope(self, task: str) -> str:
        store = self.store
        scope = f"{task}:{store.partition_date}" if store and store.partition_date else task
        return f"{scope}:{store.part}" if store and store.part else scope

    def screen(self, conversations: Sequence[Conversation], question: str) -> list[bool | TaskFailure]:
        requests = [
            self._request("screen", c.conversation_id,
                          conversation=_data(format_transcript(c, self.settings.conversation_token_budget).text),
                          question=_data(question))
            for c in conversations
        ]
        outputs = self.run(requests)
        return [
            outputs[c.conversation_id] if isinstance(outputs[c.conversation_id], TaskFailure)
            else outputs[c.conversation_id].answer == "yes"
            for c in conversations
        ]

    def name_cluster_samples(
        self, samples: dict[int, tuple[list[str], list[str]]], feedback: dict[int, str] | None = None
    ) -> dict[int, BaseModel | TaskFailure]:
        """cluster id → (in-cluster summaries, contrast summaries) → ClusterNameOutput. `feedback` carries the
        auditor's reason when a rejected name is regenerated."""
        feedback = feedback or {}
        requests = [
            self._request(
                "name_cluster", str(cid),
                in_cluster=_items("summary", inside),
                contrast=_items("summary", outside),
                feedback=_feedback(feedback.get(cid)),
            )
            for cid, (inside, outside) in sorted(samples.items())
        ]
        outputs = self.run(requests)
        return {int(k): v for k, v in outputs.items()}

    def name_clusters(self, naming: NamingInput) -> list[ClusterName]:
        samples = naming.samples or {}
        outputs = self.name_cluster_samples(samples)
        names = []
        for cid in sorted(outputs):
            output = outputs[cid]
            if isinstance(output, TaskFailure):
                continue
            names.append(ClusterName(cluster_id=cid, name=output.name, description=output.summary, terms=()))
        return names

    def propose_parents(self, neighbourhoods: list[tuple[list[str], list[str], int]]) -> list[list[str] | TaskFailure]:
        """Per neighbourhood: (its clusters as 'name: description', nearby outside clusters, desired count)."""
        requests = [
            self._request(
                "propose_parents", str(i),
                cluster_list=_items("cluster", inside),
                nearby_clusters=_items("cluster", nearby),
                desired_names=str(desired),
            )
            for i, (inside, nearby, desired) in enumerate(neighbourhoods)
        ]
        outputs = self.run(requests)
        return [outputs[str(i)] if isinstance(outputs[str(i)], TaskFailure) else outputs[str(i)].names
                for i in range(len(neighbourhoods))]

    def dedupe_names(self, names: list[str], desired: int) -> list[str] | TaskFailure:
        request = self._request("dedupe_names", "dedupe",
                                names=_items("name", names), desired_names=str(desired))
        output = self.run([request])["dedupe"]
        return output if isinstance(output, TaskFailure) else output.names

    def assign_parent(self, clusters: list[str], parents: list[str]) -> list[str | TaskFailure]:
        """Each child ('name: description') to exactly one parent; the parent list is shuffled per child."""
        requests = []
        for i, cluster in enumerate(clusters):
            shuffled = list(parents)
            random.Random(self.settings.seed * 1_000_003 + i).shuffle(shuffled)
            requests.append(self._request("assign_parent", str(i), cluster=_data(cluster),
                                          parent_names=_items("name", shuffled)))
        outputs = self.run(requests)
        return [outputs[str(i)] if isinstance(outputs[str(i)], TaskFailure) else outputs[str(i)].parent
                for i in range(len(clusters))]

    def rename_parent(self, children: list[list[str]], feedback: list[str | None] | None = None) -> list[BaseModel | TaskFailure]:
        feedback = feedback or [None] * len(children)
        requests = [
            self._request("rename_parent", str(i), children=_items("cluster", kids), feedback=_feedback(note))
            for i, (kids, note) in enumerate(zip(children, feedback))
        ]
        outputs = self.run(requests)
        return [outputs[str(i)] for i in range(len(children))]

    @property
    def facets_whole_day(self) -> bool:  # one Message Batch per day (resumable by its scope)
        return self.settings.use_batches

    def parent_builder(self) -> ParentBuilder:
        return LLMParentBuilder(self, f"{LLMParentBuilder.method} ({self.name}: {self.settings.models['rename_parent']})")

    def privacy_auditor(self, rare_terms: frozenset[str]) -> PrivacyAuditor:
        return LLMAuditor(self, rare_terms)

    def regenerate(self, request: Regeneration, auditor: PrivacyAuditor) -> dict[int, tuple[str, str]]:
        return regenerate_with_llm(request, self)

    def audit_privacy(self, clusters: list[str]) -> list[BaseModel | TaskFailure]:
        """Each 'name: description' → AuditOutput(justification, rating 1–5)."""
        requests = [self._request("audit_privacy", str(i), cluster=_data(c)) for i, c in enumerate(clusters)]
        outputs = self.run(requests)
        return [outputs[str(i)] for i in range(len(clusters))]


def facets_request_preview(conversation: Conversation, settings: ClaudeSettings,
                           custom_facets: Sequence[CustomFacet] = ()) -> dict[str, Any]:
    """The exact request body for one conversation's facets, custom facets included (for `clio estimate` and
    tests)."""
    backend = ClaudeBackend(settings, custom_facets=custom_facets)
    transcript = format_transcript(conversation, settings.conversation_token_budget)
    request = backend._request("extract_facets", conversation.conversation_id,
                               conversation=_data(transcript.text), truncation_note="")
    return backend._params(backend._facet_call(request, True, tuple(custom_facets)))


__all__ = ["BudgetExceeded", "ClaudeBackend", "ClaudeError", "ClaudeSettings"]
