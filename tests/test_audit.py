from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clio_dagster.core.audit import AuditFinding, AuditResult, OfflineAuditor, rare_terms_of
from clio_dagster.core.naming import name_clusters
from clio_dagster.core.terms import terms_of

AUDITOR = OfflineAuditor()


def rules(name: str, description: str = "", auditor: OfflineAuditor = AUDITOR) -> dict[str, int]:
    return {f.rule: f.rating for f in auditor.audit(name, description).findings}


@pytest.mark.parametrize(
    ("name", "rule", "secret"),
    [
        ("Help jane.doe@example.com plan a trip", "pii_email", "jane.doe@example.com"),
        ("Call +44 20 7946 0958 about invoices", "pii_phone", "+44 20 7946 0958"),
        ("Review the site https://janedoe-photos.net/cv", "pii_url", "https://janedoe-photos.net/cv"),
        ("Debug the server at 192.168.10.254", "pii_ip", "192.168.10.254"),
        ("Dispute charges on 4111 1111 1111 1111", "pii_card", "4111 1111 1111 1111"),
        ("Fix tax form for SSN 536-32-3065", "pii_ssn", "536-32-3065"),
        ("Transfer money to DE89370400440532013000", "pii_iban", "DE89370400440532013000"),
        ("Ship a parcel to 12 Main Street, Springfield", "pii_address", "12 Main Street"),
        ("Write a birthday poem for Jennifer Lawson", "person_name", "Jennifer Lawson"),
        ("Draft a complaint letter to Dr. Okonkwo", "person_name", "Dr. Okonkwo"),
        ("Draft a complaint letter to Mr Okonkwo", "person_name", "Mr Okonkwo"),
        ("Write a birthday poem for Jennifer", "person_name", "Jennifer"),
        ("Summarise a report by Szabina J Gelencsér", "person_name", "Szabina J Gelencsér"),
        ("Rewrite an email for [NAME] about a refund", "placeholder", "[NAME]"),
        ("Track down order 7730199 for a customer", "long_number", "7730199"),
    ],
)
def test_identifying_rules_fire_with_their_rating(name, rule, secret):
    result = AUDITOR.audit(name, "Users asked for help.")
    found = [f for f in result.findings if f.rule == rule]
    assert found, result
    assert found[0].detail == secret
    assert result.rating == found[0].rating == (2 if rule == "long_number" else 1)
    assert secret not in result.reason


def test_a_first_name_that_is_also_a_word_rates_2_only_mid_sentence():
    assert rules("Write a thank-you note to Heather") == {"possible_first_name": 2}
    assert rules("Heather gardening tips for a small yard") == {}


def test_proper_noun_run_rates_3_and_generic_capitals_do_not_count():
    result = AUDITOR.audit("Plan a weekend trip to Lake Tahoe", "Users planned travel.")
    assert result.rating == 3
    assert result.findings == (AuditFinding("proper_noun_run", "Lake Tahoe", 3),)
    assert rules("Compare the Bank of Montreal fees") == {"proper_noun_run": 3}
    # Allow-listed words break runs; a capitalised word at a sentence start is not a run.
    assert rules("Translate Python SQL queries into English", "Heuristic label. Requests about Excel formulas.") == {}
    assert rules("Stanford admissions essays") == {}
    assert rules("Plan meetings on Monday June mornings") == {}


def test_rare_term_rates_2_and_reason_names_the_rule_not_the_word():
    auditor = OfflineAuditor(frozenset({"zanzibarian", "grandma recipe"}))
    result = auditor.audit("Requests about zanzibarian cooking", "Users asked about a grandma recipe.")
    assert result.rating == 2
    assert {(f.rule, f.detail) for f in result.findings} == {("rare_term", "zanzibarian"), ("rare_term", "grandma recipe")}
    assert "rare_term" in result.reason and "zanzibarian" not in result.reason and "grandma" not in result.reason


def test_no_findings_rates_5():
    result = AUDITOR.audit("Debug pandas dataframe merges", "Users asked why joins of two tables dropped rows.")
    assert result == AuditResult(5, result.reason, ())
    assert result.reason.startswith("5")


def test_worst_finding_wins():
    result = AUDITOR.audit("Email jane.doe@example.com about the Lake Tahoe trip", "order 7730199")
    assert result.rating == 1
    assert {f.rating for f in result.findings} == {1, 2, 3}


def test_flagged_terms_are_exactly_the_offending_terms():
    auditor = OfflineAuditor(frozenset({"zanzibarian"}))
    name = "Requests about zanzibarian cooking for Jennifer Lawson"
    description = "Reach jane.doe@example.com near Lake Tahoe; order 7730199."
    assert auditor.flagged_terms(name, description) == {
        "zanzibarian", "jennifer lawson", "jane.doe@example.com", "lake tahoe", "7730199",
    }
    assert auditor.flagged_terms(name, description, max_rating=2) == {
        "zanzibarian", "jennifer lawson", "jane.doe@example.com", "7730199",
    }
    assert auditor.flagged_terms("Requests about python, pandas and dataframe", "") == set()


def test_rare_terms_count_distinct_users_and_fold_plurals_like_the_namer():
    summaries = ["write insults", "write insults", "an insult please", "bake sourdough", "bake sourdough", "zork"]
    users = ["a", "b", "c", "a", "b", "a"]
    rare = rare_terms_of(summaries, users, min_unique_users=3)
    # "insults" (a, b) and "insult" (c) fold together: 3 users, not rare in either spelling.
    assert "insults" not in rare and "insult" not in rare
    assert {"bake", "sourdough", "bake sourdough", "zork"} <= rare
    assert rare_terms_of(summaries, users, min_unique_users=1) == frozenset()
    with pytest.raises(ValueError):
        rare_terms_of(["a"], [], 2)


def _toy_partition():
    texts, users, labels = [], [], []
    for i in range(12):
        texts.append("fix my python pandas dataframe merge error please"), users.append(f"p{i}"), labels.append(0)
    for i in range(12):
        texts.append("write a poem about rain and autumn leaves"), users.append(f"q{i}"), labels.append(1)
    texts.append("write a poem for my neighbour zanzibarian oleander"), users.append("solo"), labels.append(1)
    texts.append("ask jennifer about the python pandas merge"), users.append("solo2"), labels.append(0)
    return labels, texts, users


OFFLINE_DESCRIPTION = (
    "Heuristic (offline) label from the terms most distinctive of this cluster's request summaries, "
    "each used by at least 10 distinct users: python, pandas, dataframe, merge error, csv."
)


def test_offline_name_example_rates_5_even_when_juxtaposed_terms_form_rare_bigrams():
    # Bigrams that only arise from listing terms side by side are nobody's wording.
    auditor = OfflineAuditor(frozenset({"python pandas", "pandas dataframe", "dataframe merge", "error csv"}))
    result = auditor.audit("Requests about python, pandas and dataframe", OFFLINE_DESCRIPTION)
    assert result.rating == 5 and result.findings == ()
    assert OfflineAuditor(frozenset({"merge error"})).audit("Requests about python", OFFLINE_DESCRIPTION).rating == 2


def test_offline_names_the_pipeline_produces_rate_5():
    labels, texts, users = _toy_partition()
    auditor = OfflineAuditor(rare_terms_of(texts, users, 10))
    names = name_clusters(labels, texts, users, min_unique_users=10)
    assert any("pandas" in n.name for n in names), names
    for n in names:
        result = auditor.audit(n.name, n.description)
        assert result.rating == 5, (n, result)
    # So do the fallback names and the hierarchy's parent names: the namers' own wording is never taken for
    # rare user wording, even when every one of its words is rare in the partition.
    from clio_dagster.core.audit import TEMPLATE_WORDS
    from clio_dagster.core.hierarchy import Node, OfflineParentBuilder

    kids = [Node("b00000", 0, n.name, n.description, 12, n.terms) for n in names]
    parents = [OfflineParentBuilder.name_group(kids, kids), OfflineParentBuilder.name_group(kids[:1], kids, frozenset(kids[0].terms))]
    generated = [(n.name, n.description) for n in name_clusters([0, 0], ["alpha beta", "gamma delta"], ["a", "b"], 2) + names]
    generated += [(p.name, p.description) for p in parents]
    assert any("no shared terms" in name for name, _ in generated)
    rare = set(TEMPLATE_WORDS)
    for name, description in generated:
        rare.update(terms_of(f"{name} {description}"))
    # Every run of words inside a user phrase was written by the phrase's users, so none of them is rare.
    content = {" ".join(words[i:j]) for n in names for t in n.terms for words in [t.split(" ")]
               for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
    auditor = OfflineAuditor(frozenset(rare - content))
    for name, description in generated:
        assert auditor.audit(name, description).rating == 5, (name, description, auditor.audit(name, description))


def test_offline_names_of_the_bundled_sample_rate_5():
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    from clio_dagster.core.ingest import Accepted, IngestLimits, iter_landing_file
    from clio_dagster.core.summarize import extractive_request_summary
    from clio_dagster.sample_data import sample_path

    by_day = defaultdict(list)
    for item in iter_landing_file(sample_path(), IngestLimits(100_000, 400_000)):
        if isinstance(item, Accepted):
            by_day[item.conversation.timestamp.date()].append(item.conversation)
    day = min(by_day)
    summaries = [extractive_request_summary(c).text for c in by_day[day]]
    users = [c.user_id or c.conversation_id for c in by_day[day]]
    labels = KMeans(15, n_init=1, random_state=0).fit_predict(TfidfVectorizer(min_df=2).fit_transform(summaries))
    for min_users in (3, 10):
        auditor = OfflineAuditor(rare_terms_of(summaries, users, min_users))
        for n in name_clusters(list(labels), summaries, users, min_users):
            assert auditor.audit(n.name, n.description).rating == 5, n


def test_findings_never_carry_more_than_the_token():
    text = "Please email jane.doe@example.com, she lives at 12 Main St, Springfield IL 62704, ok"
    for f in AUDITOR.audit(text, "").findings:
        assert len(f.detail) < 40 and f.detail in text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.text(max_size=300), st.frozensets(st.text(max_size=12), max_size=5))
def test_never_raises_on_arbitrary_text(name, description, rare):
    auditor = OfflineAuditor(rare)
    result = auditor.audit(name, description)
    assert 1 <= result.rating <= 5
    assert result.rating == min((f.rating for f in result.findings), default=5)
    assert isinstance(auditor.flagged_terms(name, description), set)


# --- data-driven: fake cluster names built from labelled PII spans --------------------------------

STRUCTURED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS")
LABELS = {**{k: k for k in STRUCTURED}, "PERSON": "PERSON", "STREET_ADDRESS": "STREET_ADDRESS", "ADDRESS": "STREET_ADDRESS"}


@pytest.mark.shared_data
def test_fake_cluster_names_from_labelled_pii_rate_below_3(shared_data: Path):
    total: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for path in sorted((shared_data / "pii_presidio_synth").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            for span in record["spans"]:
                label = LABELS.get(span["label"])
                if label is None:
                    continue
                total[label] += 1
                caught[label] += AUDITOR.audit("Help with " + record["text"][span["start"] : span["end"]], "").rating < 3
    rates = {label: caught[label] / total[label] for label in total}
    print("\naudit rating < 3 on 'Help with <span>':", {k: f"{v:.3f} of {total[k]}" for k, v in sorted(rates.items())})
    for label in STRUCTURED:
        assert total[label] > 0 and rates[label] >= 0.95, (label, rates[label])
    assert rates["PERSON"] >= 0.6


def test_taxonomy_words_are_public_vocabulary_but_user_words_keep_every_rule():
    from clio_dagster.core.taxonomy import load_taxonomy

    vocabulary = load_taxonomy().vocabulary
    leaf = next(leaf for leaf in load_taxonomy().leaves if "kubernetes" in leaf.name.lower() + leaf.description.lower())
    rare = frozenset({"kubernetes", "zanzibarian"})
    strict = OfflineAuditor(rare)
    lenient = OfflineAuditor(rare, safe_words=vocabulary)
    # A taxonomy word few users wrote is not their wording: it is the taxonomy's.
    assert strict.audit(leaf.name, leaf.description).rating == 2
    assert lenient.audit(leaf.name, leaf.description).rating == 5
    # A user's rare word, a person's name or an email still fail beside the taxonomy's words.
    assert lenient.audit(f"{leaf.name} (zanzibarian)", leaf.description).rating == 2
    assert lenient.audit(leaf.name, leaf.description + " Ask Jennifer Lawson.").rating == 1
    assert lenient.audit(leaf.name, "mail me at someone@example.com").rating == 1
