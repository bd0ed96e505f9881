"""The privacy auditor and regeneration stages (`llm.auditing`, `llm.regeneration`), offline and LLM, tested
directly: what the `privacy_audit` asset runs for whichever backend it has."""

from types import SimpleNamespace

from clio_dagster.llm import OfflineBackend, TaskFailure
from clio_dagster.llm.auditing import UNANSWERED, LLMAuditor, RuleAuditor
from clio_dagster.llm.base import Member, Regeneration
from clio_dagster.llm.regeneration import regenerate_with_llm

RARE = frozenset({"zorblax"})  # a word fewer than min_unique_users users wrote


def test_rule_auditor_fails_a_rare_word_and_treats_taxonomy_words_as_public():
    auditor = OfflineBackend().privacy_auditor(RARE)
    assert isinstance(auditor, RuleAuditor) and auditor.method.startswith("heuristic")
    (rare, _), (public, _) = auditor.audit([("Fix zorblax errors", "Requests about zorblax."),
                                            ("Debug and fix Python code", "Fix Python errors and tracebacks.")])
    assert rare < 3 <= public


class _AuditingLLM:
    def __init__(self, answers):
        self.answers = answers
        self.asked: list[list[str]] = []

    def audit_privacy(self, clusters):
        self.asked.append(clusters)
        return self.answers


def test_llm_auditor_keeps_the_rules_as_a_floor_and_fails_unanswered_items():
    llm = _AuditingLLM([SimpleNamespace(rating=5, justification="fine"),
                        SimpleNamespace(rating=5, justification="fine"),
                        TaskFailure("2", "invalid", "no tool call")])
    verdicts = LLMAuditor(llm, RARE).audit([("Recipes", "Baking bread."), ("Mail jane.doe@example.com", "Email."),
                                            ("Recipes", "Cakes.")])
    assert llm.asked == [["Recipes: Baking bread.", "Mail jane.doe@example.com: Email.", "Recipes: Cakes."]]
    assert verdicts[0] == (5, "fine")
    assert verdicts[1][0] < 3 and "LLM auditor rated 5" in verdicts[1][1]  # an email outranks the LLM's 5
    assert verdicts[2] == UNANSWERED


def _nodes():
    return [
        {"node_id": "b00000", "level": 0, "parent_id": "l1-a", "name": "Fix zorblax errors",
         "description": "Requests about zorblax.", "terms": ["zorblax", "python"], "conversations": 12},
        {"node_id": "b00001", "level": 0, "parent_id": "l1-a", "name": "Bake bread and cakes",
         "description": "Recipes.", "terms": ["bread", "oven"], "conversations": 12},
        {"node_id": "l1-a", "level": 1, "parent_id": None, "name": "Zorblax and bread",
         "description": "Requests about zorblax.", "terms": ["zorblax", "bread"], "conversations": 24},
    ]


def _request(failing):
    members = ([Member(0, f"c{i}", f"u{i}", f"my python script fails with a KeyError, case {i}", "en")
                for i in range(12)]
               + [Member(1, f"d{i}", f"v{i}", f"how do I bake bread in a hot oven, try {i}", "en") for i in range(12)])
    first = [(1, "1: contains a rare word (rare_term x1)") if i in failing else (5, "ok") for i in range(3)]
    return Regeneration(_nodes(), failing, first, members, {0: ["c0", "c1"], 1: ["d0"]},
                        {0: ("software.python.debug", 0.5, True, 0.1)}, min_unique_users=10)


def test_offline_regeneration_renames_failing_nodes_without_the_flagged_words():
    backend = OfflineBackend()
    auditor = backend.privacy_auditor(RARE)
    regenerated = backend.regenerate(_request([0, 2]), auditor)
    assert set(regenerated) == {0, 2}
    for name, description in regenerated.values():
        assert "zorblax" not in f"{name} {description}".lower()
    assert [rating >= 3 for rating, _ in auditor.audit(list(regenerated.values()))] == [True, True]


class _RenamingLLM:
    def __init__(self):
        self.feedback = {}

    def name_cluster_samples(self, samples, feedback=None):
        self.feedback["base"] = (samples, feedback)
        return {c: SimpleNamespace(name="Debug Python scripts", summary="Fixing KeyErrors.") for c in samples}

    def rename_parent(self, children, feedback=None):
        self.feedback["parents"] = (children, feedback)
        return [TaskFailure("0", "invalid", "no tool call")]


def test_llm_regeneration_sends_samples_and_the_auditors_reason_and_skips_failed_answers():
    llm = _RenamingLLM()
    regenerated = regenerate_with_llm(_request([0, 2]), llm)
    samples, feedback = llm.feedback["base"]
    assert samples == {0: ([f"my python script fails with a KeyError, case {i}" for i in (0, 1)], [])}
    assert feedback == {0: "1: contains a rare word (rare_term x1)"}
    children, parent_feedback = llm.feedback["parents"]
    assert children == [["Fix zorblax errors: Requests about zorblax.", "Bake bread and cakes: Recipes."]]
    assert parent_feedback == ["1: contains a rare word (rare_term x1)"]
    # The parent's rename failed: it gets no second name here (the asset keeps its first, unpublished).
    assert regenerated == {0: ("Debug Python scripts", "Fixing KeyErrors.")}
