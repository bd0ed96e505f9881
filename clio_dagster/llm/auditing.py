"""The privacy auditor stage (Clio §G.8): every candidate name rated 1–5 before anything is published.

Two implementations behind one interface. Offline, the deterministic rules of `core.audit` rate the names
(taxonomy words are public vocabulary there: never one user's wording). With Claude, the LLM rates them and
the rules' high-precision findings can only lower its rating (defence in depth: an email, a person's name or
a word fewer than min_unique_users users wrote is never acceptable, whatever the LLM says)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from clio_dagster.core.audit import OfflineAuditor
from clio_dagster.llm.base import PrivacyAuditor, TaskFailure

# An unanswered audit counts as a failure: nothing unaudited is published.
UNANSWERED = (1, "auditor gave no valid answer")


class RuleAuditor(PrivacyAuditor):
    method = "heuristic: rule-based"

    def __init__(self, rare_terms: frozenset[str], safe_words: frozenset[str] = frozenset()):
        self.rules = OfflineAuditor(rare_terms, safe_words=safe_words)

    def audit(self, items: list[tuple[str, str]]) -> list[tuple[int, str]]:
        results = [self.rules.audit(name, description) for name, description in items]
        return [(r.rating, r.reason) for r in results]


class AuditsPrivacy(Protocol):
    def audit_privacy(self, clusters: list[str]) -> list[BaseModel | TaskFailure]: ...


class LLMAuditor(PrivacyAuditor):
    method = "llm"

    def __init__(self, llm: AuditsPrivacy, rare_terms: frozenset[str]):
        self.llm = llm
        self.rules = OfflineAuditor(rare_terms)

    def audit(self, items: list[tuple[str, str]]) -> list[tuple[int, str]]:
        answers = self.llm.audit_privacy([f"{name}: {description}" for name, description in items])
        verdicts = []
        for (name, description), answer in zip(items, answers):
            verdict = UNANSWERED if isinstance(answer, TaskFailure) else (answer.rating, answer.justification)
            worst = min(self.rules.backstop_findings(name, description), key=lambda f: f.rating, default=None)
            if worst is not None and worst.rating < verdict[0]:
                verdict = (worst.rating, f"rule {worst.rule} (LLM auditor rated {verdict[0]})")
            verdicts.append(verdict)
        return verdicts


__all__ = ["LLMAuditor", "PrivacyAuditor", "RuleAuditor", "UNANSWERED"]
