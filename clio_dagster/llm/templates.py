"""Versioned prompt templates: one file per Clio task in `llm/prompts/`, fixed instructions above the
`===== USER =====` line (sent as the cached system prompt) and the per-item message below it.

A template's version is a hash of its file, so editing a prompt invalidates exactly its cached answers.
Where a model family needs other wording for a task, that is a variant beside it, `<task>.<variant>.md`,
versioned the same way; a task without that variant file uses its shared prompt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

USER_MARKER = "===== USER ====="
# Tags that delimit data in the prompts; data must never be able to close or open one.
DATA_TAGS = (
    "conversation", "in_cluster", "contrast", "summary", "cluster_list", "nearby_clusters", "cluster",
    "desired_names", "names", "name", "parent_names", "children", "question",
)
_TAG = re.compile(r"<\s*/?\s*(" + "|".join(DATA_TAGS) + r")\b", re.IGNORECASE)


def escape_data(text: str) -> str:
    """Neutralise our delimiter tags inside data ('</conversation>' → '‹/conversation>')."""
    return _TAG.sub(lambda m: "‹" + m.group(0)[1:], text)


@dataclass(frozen=True)
class PromptTemplate:
    task: str
    system: str
    user: Template
    version: str

    def render_user(self, **values: str) -> str:
        return self.user.substitute(**values)


@cache
def load_template(task: str, variant: str | None = None) -> PromptTemplate:
    folder = resources.files("clio_dagster.llm.prompts")
    name = f"{task}.{variant}.md" if variant and folder.joinpath(f"{task}.{variant}.md").is_file() else f"{task}.md"
    text = folder.joinpath(name).read_text(encoding="utf-8")
    if USER_MARKER not in text:
        raise ValueError(f"prompt {name} has no '{USER_MARKER}' line")
    system, user = text.split(USER_MARKER, 1)
    return PromptTemplate(
        task=task,
        system=system.strip(),
        user=Template(user.strip()),
        version=hashlib.sha256(text.encode("utf-8")).hexdigest()[:12],
    )
