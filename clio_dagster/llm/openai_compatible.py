"""The `openai_compatible` backend: Clio's LLM tasks on a self-hosted model behind an OpenAI-compatible
chat-completions server (vLLM, Ollama, llama.cpp server, TGI), through the `openai` SDK (extra `local`).

Only the transport differs from the claude backend, whose machinery it inherits: the same versioned prompts
(the fixed instructions as the system message), pydantic schemas, repair loop, content cache, journal, usage
accounting (cost from CLIO_OPENAI_PRICE, 0 by default), budget, retries and bounded concurrency. A structured
answer comes from the server's JSON-schema mode (`response_format`) or from a forced tool call
(CLIO_OPENAI_STRUCTURED_MODE=tools); a server that supports neither gets a clear error naming what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from clio_dagster.llm.claude import ClaudeBackend, ClaudeError, ClaudeSettings, _Request, _validation_message
from clio_dagster.llm.pricing import TokenUsage
from clio_dagster.llm.schemas import tool_definition, tool_name
from clio_dagster.llm.templates import PromptTemplate, load_template

try:
    import openai
except ImportError as exc:  # the optional extra is not installed
    raise ClaudeError("The openai_compatible backend needs the openai SDK: pip install 'clio-dagster[local]'.") from exc

STRUCTURED_MODES = {
    "json_schema": ("JSON-schema output (response_format type json_schema)",
                    "Set CLIO_OPENAI_STRUCTURED_MODE=tools to ask for a forced tool call instead, or serve the model "
                    "with structured output (vLLM, Ollama >= 0.5, llama.cpp server, TGI grammars)."),
    "tools": ("tool calling (tools with a forced tool_choice)",
              "Set CLIO_OPENAI_STRUCTURED_MODE=json_schema, or enable tool calling on the server (vLLM: "
              "--enable-auto-tool-choice with a --tool-call-parser; llama.cpp server: --jinja)."),
}
# Words of a 400 answer that mean the server refused the structured mode itself, not this one request.
_STRUCTURED_WORDS = ("response_format", "json_schema", "tool_choice", "tools", "tool call", "function call")


class OpenAICompatibleError(ClaudeError):
    """A problem with the server or its settings that the user must fix; the message says what to do."""


@dataclass(frozen=True)
class OpenAICompatibleSettings(ClaudeSettings):
    structured_mode: str = "json_schema"
    # A versioned prompt variant for the model family (llm/templates.py); None: the shared prompts.
    prompt_variant: str | None = None


@dataclass(frozen=True)
class _Answer:
    """What a response held for the task: the JSON text, and the tool call that carried it (tools mode)."""

    text: str | None
    tool_call: Any = None


class OpenAICompatibleBackend(ClaudeBackend):
    name = "openai_compatible"
    config_errors = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
    request_errors = (openai.APIStatusError, openai.APIConnectionError)
    garbled_errors = (ValueError, openai.APIResponseValidationError)

    settings: OpenAICompatibleSettings

    def __init__(self, settings: OpenAICompatibleSettings, store=None, custom_facets=()):
        if settings.structured_mode not in STRUCTURED_MODES:
            raise OpenAICompatibleError(f"CLIO_OPENAI_STRUCTURED_MODE must be one of {', '.join(STRUCTURED_MODES)}.")
        if not settings.base_url:
            raise OpenAICompatibleError("The openai_compatible backend needs CLIO_OPENAI_BASE_URL (the server's /v1 URL).")
        super().__init__(settings, store, custom_facets)

    def _check_key(self, settings: ClaudeSettings) -> None:
        pass  # optional: many self-hosted servers take none

    def _template(self, task: str) -> PromptTemplate:
        return load_template(task, self.settings.prompt_variant)

    def _async_client(self) -> openai.AsyncOpenAI:
        async def on_request(request: Any) -> None:
            self._count_retry(request)

        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [on_request]})
        # The SDK refuses an empty key; a server that wants none ignores this placeholder.
        return openai.AsyncOpenAI(**{**self._client_kwargs(), "api_key": self.settings.api_key or "none"},
                                  http_client=http)

    def _params(self, request: _Request, extra_messages: list[dict] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.key.model,
            "max_tokens": self.settings.max_tokens[request.task],
            "temperature": self.settings.temperatures[request.task],
            "seed": self.settings.seed,
            "stream": False,
            "messages": [{"role": "system", "content": self._system(request)},
                         {"role": "user", "content": request.user_text}] + (extra_messages or []),
        }
        tool = tool_definition(request.task, request.output)
        if self.settings.structured_mode == "tools":
            params["tools"] = [{"type": "function", "function": {
                "name": tool["name"], "description": tool["description"], "parameters": tool["input_schema"]}}]
            params["tool_choice"] = {"type": "function", "function": {"name": tool["name"]}}
        else:
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": tool["name"], "schema": tool["input_schema"], "strict": True}}
        return params

    async def _send(self, client: openai.AsyncOpenAI, params: dict[str, Any]) -> Any:
        try:
            return await client.chat.completions.create(**params)
        except openai.BadRequestError as exc:
            self._raise_if_structured_mode_missing(exc)
            raise  # a 400 for this request alone (say, too long for the model): the item fails, the run goes on

    def _raise_if_structured_mode_missing(self, exc: openai.BadRequestError) -> None:
        # The server's own wording is never repeated: it may quote the request.
        said = f"{getattr(exc, 'param', '') or ''} {getattr(exc, 'message', '') or ''}".lower()
        if any(word in said for word in _STRUCTURED_WORDS):
            what, fix = STRUCTURED_MODES[self.settings.structured_mode]
            raise OpenAICompatibleError(
                f"The server at {self.settings.base_url} refused {what} (400): the structured answers Clio needs "
                f"are missing there. {fix}") from None

    def _parse(self, request: _Request, message: Any) -> tuple[BaseModel | None, str | None, Any]:
        choices = getattr(message, "choices", None) or []
        reply = getattr(choices[0], "message", None) if choices else None
        if reply is None:
            return None, "the response has no message", None
        if self.settings.structured_mode == "tools":
            call = next((c for c in (getattr(reply, "tool_calls", None) or [])
                         if getattr(getattr(c, "function", None), "name", None) == tool_name(request.task)), None)
            if call is None:
                return None, f"no {tool_name(request.task)} tool call in the answer", None
            answer = _Answer(call.function.arguments, call)
        else:
            answer = _Answer(getattr(reply, "content", None))
        try:
            data = json.loads(answer.text or "")
        except ValueError:
            return None, "the answer is not valid JSON", answer
        try:
            return request.output_model.model_validate(data), None, answer
        except ValidationError as exc:
            return None, _validation_message(exc), answer

    def _repair_messages(self, request: _Request, block: Any, error: str) -> list[dict]:
        if block is None:
            ask = (f"You must answer with the {tool_name(request.task)} tool." if self.settings.structured_mode == "tools"
                   else "Answer with one JSON object that matches the schema.")
            return [{"role": "assistant", "content": "(no answer)"}, {"role": "user", "content": ask}]
        if block.tool_call is not None:
            call = block.tool_call
            return [{"role": "assistant", "content": None, "tool_calls": [
                        {"id": call.id, "type": "function",
                         "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
                    {"role": "tool", "tool_call_id": call.id,
                     "content": f"Invalid input: {error}. Call the tool again with valid input."}]
        return [{"role": "assistant", "content": block.text or ""},
                {"role": "user", "content": f"That answer was invalid: {error}. Answer again with one JSON object "
                                            "that matches the schema."}]

    def _token_usage(self, usage: Any) -> TokenUsage:
        prompt = getattr(usage, "prompt_tokens", 0) or 0
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", 0) or 0
        return TokenUsage(input_tokens=prompt - cached, output_tokens=getattr(usage, "completion_tokens", 0) or 0,
                          cache_read_tokens=cached)

    def _raise_for_config(self, exc: Exception, model: str) -> None:
        where = self.settings.base_url
        if isinstance(exc, openai.AuthenticationError):
            raise OpenAICompatibleError(f"The server at {where} rejected the API key (401): export OPENAI_API_KEY "
                                        "with the key it expects, or check CLIO_OPENAI_BASE_URL.") from None
        if isinstance(exc, openai.PermissionDeniedError):
            raise OpenAICompatibleError(f"The server at {where} refused this key or model (403).") from None
        if isinstance(exc, openai.NotFoundError):
            raise OpenAICompatibleError(
                f"Model {model!r} was not found at {where} (404): set CLIO_OPENAI_MODEL to a model the server "
                "serves (vLLM: --served-model-name; Ollama: `ollama list`), and CLIO_OPENAI_BASE_URL to its /v1 "
                "URL.") from None


__all__ = ["OpenAICompatibleBackend", "OpenAICompatibleError", "OpenAICompatibleSettings"]
