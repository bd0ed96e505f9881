"""Structured outputs of Clio's LLM tasks.

Each task is answered through one forced tool call whose `input_schema` is generated from the pydantic
model below, and the tool input is validated with the same model. The tool name is `record_<task>`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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


def tool_definition(task: str) -> dict:
    model = TASK_OUTPUTS[task]
    return {
        "name": tool_name(task),
        "description": f"Record the answer for the {task.replace('_', ' ')} task.",
        "input_schema": model.model_json_schema(),
    }
