"""Structured outputs of Clio's LLM tasks.

Each task is answered through one forced tool call whose `input_schema` is generated from the pydantic
model below, and the tool input is validated with the same model. The tool name is `record_<task>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from clio_dagster.core.custom_facets import OPEN_ANSWER_MAX_CHARS, CustomFacet


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FacetsOutput(_Output):
    """All of Clio's LLM facets for one conversation, in one call."""

    request: str = Field(
        min_length=1,
        max_length=600,
        description="At most two sentences, starting 'The user's overall request for the assistant is to'. "
        "No names, locations, contact details or other proper nouns.",
    )
    task: str = Field(
        min_length=1,
        max_length=600,
        description="At most two sentences, starting 'The task is to'. No private information.",
    )
    languages: list[str] = Field(
        min_length=1,
        max_length=5,
        description="Main human languages of the user's messages, full English names (e.g. 'English', 'Chinese'); "
        "no language families, no programming languages.",
    )
    concerning: int = Field(ge=1, le=5, description="Safety concern from 1 (not concerning) to 5 (extremely).")


class ClusterNameOutput(_Output):
    summary: str = Field(min_length=1, max_length=800, description="Two sentences in the past tense.")
    name: str = Field(min_length=1, max_length=120, description="At most ten words, an imperative sentence.")


class ProposeParentsOutput(_Output):
    names: list[str] = Field(min_length=1, max_length=200, description="Proposed higher-level cluster names.")


class DedupeNamesOutput(_Output):
    names: list[str] = Field(min_length=1, max_length=400, description="The de-duplicated higher-level names.")


class AssignParentOutput(_Output):
    parent: str = Field(min_length=1, max_length=200, description="Exactly one name copied from the parent list.")


class RenameParentOutput(_Output):
    summary: str = Field(min_length=1, max_length=800, description="Two sentences in the past tense.")
    name: str = Field(min_length=1, max_length=120, description="At most ten words, an imperative sentence.")


class AuditOutput(_Output):
    justification: str = Field(min_length=1, max_length=1200)
    rating: int = Field(ge=1, le=5, description="1 identifies a person … 5 not identifiable.")


class ScreenOutput(_Output):
    answer: Literal["yes", "no"]


TASK_OUTPUTS: dict[str, type[_Output]] = {
    "extract_facets": FacetsOutput,
    "name_cluster": ClusterNameOutput,
    "propose_parents": ProposeParentsOutput,
    "dedupe_names": DedupeNamesOutput,
    "assign_parent": AssignParentOutput,
    "rename_parent": RenameParentOutput,
    "audit_privacy": AuditOutput,
    "screen": ScreenOutput,
}


def tool_name(task: str) -> str:
    return f"record_{task}"


def _custom_field(facet: CustomFacet) -> tuple[Any, Any]:
    """One custom facet as a field of the facet call's tool: its type carries the allowed values or range."""
    if facet.type == "categorical":
        return Literal[facet.values], Field(description=facet.instruction())  # type: ignore[valid-type]
    if facet.type == "numeric":
        return int, Field(ge=facet.min, le=facet.max, description=facet.instruction())
    # Clio prefills the answer; with a forced tool call the answer must start with the prefill instead.
    pattern = "^" + re.escape(facet.prefill) if facet.prefill else None
    return str, Field(min_length=1, max_length=OPEN_ANSWER_MAX_CHARS, pattern=pattern,
                      description=facet.instruction())


def facets_output(core: bool, custom: Sequence[CustomFacet]) -> type[_Output]:
    """The facet call's output for the built-in facets (when `core`) and the given custom facets, one field
    each: the tool schema grows by one field per custom facet."""
    if not custom:
        return FacetsOutput
    fields: dict[str, Any] = {}
    if core:
        fields = {name: (info.annotation, info) for name, info in FacetsOutput.model_fields.items()}
    fields.update({facet.name: _custom_field(facet) for facet in custom})
    return create_model("FacetsOutput", __base__=_Output, __doc__=FacetsOutput.__doc__, **fields)


def tool_definition(task: str, model: type[BaseModel] | None = None) -> dict:
    model = model or TASK_OUTPUTS[task]
    return {
        "name": tool_name(task),
        "description": f"Record the answer for the {task.replace('_', ' ')} task.",
        "input_schema": model.model_json_schema(),
    }
