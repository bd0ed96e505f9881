"""A loopback fake of the OpenAI chat-completions HTTP API (what vLLM, Ollama, llama.cpp server and TGI serve),
for tests. The real `openai` SDK talks to it over HTTP on 127.0.0.1:

    with FakeOpenAI() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="local-key")
        client.chat.completions.create(model="qwen2.5-7b-instruct", messages=[...], response_format={...})

`POST /v1/chat/completions` with streaming off, answering through a JSON-schema `response_format` (the answer
in `message.content`) or a forced function tool (`message.tool_calls`); `GET /v1/models`. The answers to Clio's
tasks are derived from the request like the Anthropic fake's (`record_<task>`, `derive_tool_input`); a server
without one of the structured modes is `structured_modes=`; faults come from a `FaultPlan` (429, 500, 529 as
503, timeout, invalid_json: a cut-off JSON text, invalid_schema, no_tool: prose instead of the answer).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from tests.fake_anthropic import (
    DEFAULT_KNOWN_NAMES,
    FaultInjectingServer,
    FaultPlan,
    _Reply,
    _retry_after_headers,
    _text_of,
    _wrong_type,
    derive_tool_input,
)

__all__ = ["FakeOpenAI", "FaultPlan", "LOCAL_MODEL", "STRUCTURED_MODES", "settings_against"]

STRUCTURED_MODES = frozenset({"json_schema", "tools"})
LOCAL_MODEL = "qwen2.5-7b-instruct"  # what the fake serves unless told otherwise
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


def _error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
           headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, {"error": {"message": message, "type": kind, "param": param, "code": None}}, headers)


class FakeOpenAI(FaultInjectingServer):
    """Loopback HTTP fake of an OpenAI-compatible server. Use as a context manager; `base_url` ends in /v1."""

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        api_key: str | None = None,  # None: no key needed, as most self-hosted servers
        models: Iterable[str] = (LOCAL_MODEL,),
        structured_modes: Iterable[str] = STRUCTURED_MODES,
        known_names: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        super().__init__(host, port, faults)
        self.api_key = api_key
        self.models = set(models)
        self.structured_modes = frozenset(structured_modes)
        self.known_names = set(DEFAULT_KNOWN_NAMES) | set(known_names)
        self.requests: list[dict] = []
        self._counter = 0

    @property
    def base_url(self) -> str:
        return super().base_url + "/v1"

    @property
    def completion_requests(self) -> list[dict]:
        with self._lock:
            return [r["json"] for r in self.requests if r["path"] == "/v1/chat/completions"]

    # ---------------------------------------------------------------- routing
    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> _Reply:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append({"method": method, "path": path, "json": body})
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "authentication_error")
        if path == "/v1/models" and method == "GET":
            return _Reply(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                            "owned_by": "fake"} for m in sorted(self.models)]})
        if path != "/v1/chat/completions":
            return _error(404, f"{method} {path} not found", "not_found_error")
        if method != "POST":
            return _error(405, f"{method} not allowed", "invalid_request_error")
        with self._lock:
            self.message_calls += 1
        if not isinstance(body, dict):
            return _error(400, "body is not a JSON object")
        return self._completion(body)

    def _validate(self, body: dict) -> _Reply | None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or any(
                not isinstance(m, dict) or m.get("role") not in ROLES for m in messages):
            return _error(400, "messages: a non-empty list of {role, content}", param="messages")
        if body.get("stream"):
            return _error(400, "stream: this fake answers with streaming off only", param="stream")
        temperature = body.get("temperature")
        if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
            return _error(400, "temperature: must be within [0, 2]", param="temperature")
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and not (isinstance(max_tokens, int) and max_tokens > 0):
            return _error(400, "max_tokens: a positive integer", param="max_tokens")
        fmt = body.get("response_format")
        if fmt is not None:
            if fmt.get("type") == "json_schema" and "json_schema" not in self.structured_modes:
                return _error(400, "response_format type json_schema is not supported", param="response_format")
            schema = fmt.get("json_schema") or {}
            if fmt.get("type") == "json_schema" and not (isinstance(schema.get("schema"), dict) and schema.get("name")):
                return _error(400, "response_format.json_schema needs a name and a schema", param="response_format")
        if body.get("tools") is not None:
            if "tools" not in self.structured_modes:
                return _error(400, "tools are not supported by this model", param="tools")
            names = {t.get("function", {}).get("name") for t in body["tools"] if isinstance(t, dict)
                     and t.get("type") == "function"}
            choice = body.get("tool_choice")
            if isinstance(choice, dict) and choice.get("function", {}).get("name") not in names:
                return _error(400, "tool_choice names a function not in tools", param="tool_choice")
        if body.get("model") not in self.models:
            return _error(404, f"The model `{body.get('model')}` does not exist.", "not_found_error", param="model")
        return None

    # ---------------------------------------------------------------- answers
    def derive_answer(self, name: str, user_text: str, schema: dict | None) -> dict | None:
        """The structured answer for the task `name` (record_<task>); None: the model answers in prose."""
        return derive_tool_input(name, user_text, known_names=self.known_names, schema=schema)

    def _structured(self, body: dict) -> tuple[str, str, dict | None]:
        """(mode, record_<task> name, JSON schema) the request asks for; mode "text" when none."""
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return "json_schema", fmt["json_schema"]["name"], fmt["json_schema"]["schema"]
        tools = [t["function"] for t in body.get("tools") or [] if t.get("type") == "function"]
        if tools and body.get("tool_choice") != "none":
            choice = body.get("tool_choice")
            wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) else tools[0]["name"]
            tool = next(t for t in tools if t["name"] == wanted)
            return "tools", tool["name"], tool.get("parameters")
        return "text", "", None

    def build_completion(self, body: dict, fault: str | None = None) -> dict:
        messages = body["messages"]
        user_text = "\n".join(_text_of(m.get("content")) for m in messages if m.get("role") == "user")
        mode, name, schema = self._structured(body)
        answer = self.derive_answer(name, user_text, schema) if mode != "text" else None
        if answer is not None and fault == "invalid_schema" and answer:
            key = next(iter(answer))
            answer = {**answer, key: _wrong_type(answer[key])}
        text = json.dumps(answer) if answer is not None else "I would rather describe this in my own words."
        if answer is not None and fault == "invalid_json":
            text = text[: max(1, len(text) - 7)]  # cut off: not JSON any more
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        finish = "stop"
        if mode == "tools" and answer is not None and fault != "no_tool":
            with self._lock:
                self._counter += 1
                call_id = f"call_{self._counter:08d}"
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}]}
            finish = "tool_calls"
        elif fault == "no_tool":
            message["content"] = "I would rather describe this in my own words."
        prompt = sum(len(_text_of(m.get("content"))) for m in messages) // 4
        completion = max(1, len(text) // 4)
        return {
            "id": f"chatcmpl-{self._counter:08d}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": max(1, prompt), "completion_tokens": completion,
                      "total_tokens": max(1, prompt) + completion},
        }

    def _completion(self, body: dict) -> _Reply:
        problem = self._validate(body)
        if problem is not None:
            return problem
        fault, _, _ = self._choose_fault(body)
        plan = self.faults or FaultPlan()
        if fault == "429":
            return _error(429, "Rate limit reached (fake).", "rate_limit_error",
                          headers=_retry_after_headers(plan.retry_after_s))
        retry = _retry_after_headers(plan.retry_after_5xx_s) if plan.retry_after_5xx_s is not None else None
        if fault == "500":
            return _error(500, "Internal server error (fake).", "server_error", headers=retry)
        if fault == "529":
            return _error(503, "The server is overloaded (fake).", "server_error", headers=retry)
        completion = self.build_completion(body, fault if fault != "timeout" else None)
        return _Reply(200, completion, delay_s=plan.timeout_sleep_s if fault == "timeout" else 0.0)


def settings_against(backend: str, fake: Any) -> dict[str, Any]:
    """ClioSettings values that point every LLM task at `fake`: "claude" (the Anthropic fake) or "local" (this one)."""
    if backend == "claude":
        return {"llm_backend": "claude", "claude_base_url": fake.base_url}
    return {"llm_preset": "local", "openai_base_url": fake.base_url, "openai_model": LOCAL_MODEL}
