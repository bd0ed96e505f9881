"""Offline privacy auditor: a heuristic stand-in for Clio's LLM cluster auditor (paper App. G.8, layer 4).

Clio asks Claude 3.5 Sonnet (temperature 0.05) to rate each "{cluster name}: {cluster description}" on a
1–5 scale, and only clusters rated >= 3 are published (App. D):

  1  identifies an individual (names, contact details, addresses, ids)
  2  identifies a specific small group, organisation, website, community or school
  3  narrows identification to the order of a few thousand people
  4  identifiable only if given the right (significant) context
  5  not identifiable at all

`OfflineAuditor` maps a handful of deterministic rules onto that scale. The rating is the minimum over
all findings (5 when nothing fires):

===================  ======  ====================================================================
rule                 rating  fires on
===================  ======  ====================================================================
pii_<kind>           1       any match of the scrubber's validated patterns (`core.pii.find_pii`):
                             email, URL, IP, IBAN, card, SSN, phone, street address
person_name          1       a person name as the scrubber finds one: a known first name,
                             capitalised, optionally with a capitalised surname; an honorific
                             (Mr, Dr, ...) followed by a capitalised word; "my name is X" ...;
                             also two shapes the scrubber leaves: "Szabina J Gelencsér" (any
                             capitalised word, middle initial, capitalised word) and lower-case
                             "jared paavolainen" (known first name + a non-stop-word)
possible_first_name  2       a first name that is also a common word ("Mark", "Heather", "Jordan")
                             alone, capitalised where no sentence starts
placeholder          1       a scrubber placeholder such as [NAME] or [EMAIL] (the name was built
                             from text that held PII)
rare_term            2       a term (`terms.terms_of`: unigram or bigram, plural-folded as the
                             namer folds them) used by fewer than min_unique_users distinct users
                             of the partition (`rare_terms_of`); a phrase no crowd shares can be
                             one user's or one small group's own wording. Bigrams are only read
                             within a phrase (not across commas or "and"), and the offline namers'
                             own template wording (`TEMPLATE_WORDS`) is never a rare term
long_number          2       a run of >= 5 digits (account, order, postcode, case numbers ...)
proper_noun_run      3       >= 2 adjacent capitalised words (particles like "of"/"van" may join
                             them), neither at a sentence start nor on `GENERIC_CAPITALISED`:
                             possibly a place or an organisation; still publishable at Clio's
                             threshold of 3, dropped by a stricter threshold of 4
===================  ======  ====================================================================

`GENERIC_CAPITALISED` is deliberately short: programming languages and formats (Python, JavaScript,
SQL, HTML, JSON ...), office and OS products that name a skill rather than a person (Excel, Word,
Windows, Linux ...), AI terms (AI, API, LLM, ChatGPT, Claude ...), common human languages (English,
Chinese ...), weekday and month names, the offline namer's own template words (Requests, Heuristic)
and a few product-category nouns (App, Code, Data, Server ...). Allow-listed words break a run.

What this heuristic can miss (and an LLM auditor would not): surnames or foreign first names on their
own ("Kovalev", "Krisztián" not in the census list), a lone lower-case first name, places and organisations written
as a single capitalised word ("Springfield", "Acme") or at the start of a sentence, small groups described
in plain words ("the three-person bakery on our street"), and identification by combining harmless facts.
It can also over-flag: a proper-noun run such as "Visual Studio" rates 3 (still publishable), a famous
name ("Harry Potter") rates 1 where Clio's auditor would allow a public figure, and the lower-case rule
reads "adam optimizer" as a person. Findings
and reasons never carry more than the offending token itself, and `AuditResult.reason` names rules
only, so the audit log cannot leak the text it was auditing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from clio_dagster.core.terms import STOP_WORDS, WORD, plural_folding, terms_of
from clio_dagster.core.pii import PLACEHOLDERS, _first_names, find_pii

__all__ = [
    "AUDIT_METHOD",
    "GENERIC_CAPITALISED",
    "TEMPLATE_WORDS",
    "AuditFinding",
    "AuditResult",
    "OfflineAuditor",
    "rare_terms_of",
]

AUDIT_METHOD = "heuristic: PII patterns, person names, rare terms, long numbers, proper-noun runs"

RULE_RATINGS: dict[str, int] = {
    "pii_email": 1,
    "pii_url": 1,
    "pii_ip": 1,
    "pii_iban": 1,
    "pii_card": 1,
    "pii_ssn": 1,
    "pii_phone": 1,
    "pii_address": 1,
    "person_name": 1,
    "placeholder": 1,
    "possible_first_name": 2,
    "rare_term": 2,
    "long_number": 2,
    "proper_noun_run": 3,
}

# Rule prefixes an LLM auditor's rating never overrides (with rare single words: `backstop_findings`).
BACKSTOP_RULES = ("pii_", "placeholder", "person_name", "long_number")

_RULE_TEXT: dict[str, str] = {
    "pii_email": "an email address",
    "pii_url": "a URL or domain",
    "pii_ip": "an IP address",
    "pii_iban": "an IBAN",
    "pii_card": "a payment card number",
    "pii_ssn": "a social security number",
    "pii_phone": "a phone number",
    "pii_address": "a street address or postcode",
    "person_name": "a person's name",
    "possible_first_name": "a capitalised first name that is also a common word",
    "placeholder": "a PII placeholder left by the scrubber",
    "rare_term": "a term used by fewer than the minimum number of distinct users",
    "long_number": "a long number (5 or more digits)",
    "proper_noun_run": "a run of capitalised words (possibly a place or organisation)",
}

GENERIC_CAPITALISED: frozenset[str] = frozenset(
    """
    Python JavaScript TypeScript Java Kotlin Swift Rust Go Ruby PHP Perl Scala Haskell SQL MySQL PostgreSQL
    HTML CSS JSON XML YAML CSV PDF URL HTTP REST GraphQL Bash Shell Git GitHub Docker Kubernetes React Node
    Excel Word PowerPoint Outlook Windows Linux Ubuntu Android iOS Mac MacOS
    AI API APIs ML LLM LLMs GPT ChatGPT Claude NLP UI UX CPU GPU
    English Chinese Spanish French German Japanese Korean Russian Portuguese Arabic Italian Hindi Dutch
    Turkish Polish Vietnamese Indonesian Ukrainian Persian
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July
    August September October November December
    Requests Request Heuristic
    App Apps Code Data Database Server Web Website Email Script Notebook Studio Cloud Model Models
    """.split()
)
"""Capitalised words that name a skill, a language, a date or a product category, never a person or place."""

_EXTRA_PLACEHOLDERS = frozenset({"[REDACTED]", "[PERSON]", "[PHONE_NUMBER]", "[EMAIL_ADDRESS]", "[LOCATION]"})
_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in sorted(PLACEHOLDERS | _EXTRA_PLACEHOLDERS)))
_LONG_NUMBER = re.compile(r"(?<!\d)\d{5,}(?!\d)")
_POSSESSIVE = re.compile(r"['’]s$")
_PARTICLES = frozenset("of de del della di da do dos das du des la le van von der den y".split())
_RUN_GAP = frozenset({" ", "\t", "\u00a0"})
# "Szabina J Gelencsér", "Ravil G. Yefimov": capitalised word, middle initial, capitalised word.
_INITIAL_NAME = re.compile(r"(?<![\w.])([^\W\d_][\w'’-]+) [A-Z]\.? ([^\W\d_][\w'’-]+)")
# "jared paavolainen": a lower-case known first name followed by a surname-like lower-case word.
_LOWER_FIRST = re.compile(
    r"(?<![\w'’-])([^\W\d_]+) (?:[a-z]\.? )?([^\W\d_]{3,}(?:-[^\W\d_]{2,})?)(?![\w'’-])"
)
_SENTENCE_BREAK = frozenset(".!?:;\"“”(\n*•#|-–—")
# Rare-term segments: a bigram is only checked where its two words really stand next to each other,
# so "python, pandas and dataframe" is not read as the bigram "pandas dataframe".
_SEGMENT_SPLIT = re.compile(r"[,;:.!?()\[\]{}\"“”«»|/\n]+|\s(?:and|or|&)\s", re.IGNORECASE)
# The offline namers' fixed wording (core.naming for base clusters, core.hierarchy for parents) carries no
# user text, so it is not rare-term checked: the "Requests about" / "Heuristic (offline) ...:" lead-ins are
# cut off, and the words of the fallback sentences ("Requests with no shared terms") are exempt.
_TEMPLATE_LEAD = re.compile(r"^\s*(?:Requests about\b|Heuristic \(offline\)[^:]*:)\s*")
_TEMPLATE_SENTENCES = (
    "Requests with no term shared by enough users",
    "Distinctive phrases, each written by at least users",
    "Users wrote:",
    "No topic of the taxonomy is close to these requests",
    "Topic: area:",
    "The closest topic of the taxonomy, a weak match",
    "Other requests within",
    "no taxonomy topic is close to these requests, and no phrase of them is both common in this cluster and "
    "written by at least distinct users",
    "Requests with no shared terms",
    "no word of these request summaries is both common in this cluster and used by at least distinct users, "
    "so no distinctive term can be shown",
    "most distinctive terms of its clusters: none",
)
TEMPLATE_WORDS: frozenset[str] = frozenset(
    t for sentence in _TEMPLATE_SENTENCES for t in terms_of(sentence) if " " not in t
) | {"heuristic", "offline", "label", "group", "clusters", "similar", "names"}
"""Words of the offline namers' own sentences; a term made only of these is never a rare user term."""


@dataclass(frozen=True)
class AuditFinding:
    rule: str
    detail: str  # the offending token itself, never more of the text
    rating: int


@dataclass(frozen=True)
class AuditResult:
    rating: int
    reason: str  # names rules only, never the offending text
    findings: tuple[AuditFinding, ...]


def _fold(term: str, folding: dict[str, str]) -> str:
    return " ".join(folding.get(part, part) for part in term.split(" "))


def rare_terms_of(summaries: Sequence[str], user_keys: Sequence[str], min_unique_users: int) -> frozenset[str]:
    """Terms of the partition's summaries used by fewer than `min_unique_users` distinct users.

    Terms are `terms.terms_of` unigrams and bigrams. Users are counted per plural-folded term, exactly as
    the offline namer counts them, and both the raw and the folded spelling of a rare term are returned,
    so a name term the namer could legitimately pick is never reported as rare.
    """
    if len(summaries) != len(user_keys):
        raise ValueError("summaries and user_keys must have the same length")
    tokenised = [terms_of(s) if isinstance(s, str) else [] for s in summaries]
    vocabulary = {t for terms in tokenised for t in terms}
    folding = plural_folding(vocabulary)
    users: dict[str, set[str]] = defaultdict(set)
    for terms, user in zip(tokenised, user_keys):
        for term in set(terms):
            users[_fold(term, folding)].add(user)
    rare = {t for t, u in users.items() if len(u) < min_unique_users}
    return frozenset(rare | {t for t in vocabulary if _fold(t, folding) in rare})


def _sentence_start(text: str, pos: int) -> bool:
    i = pos - 1
    while i >= 0 and text[i] in " \t\u00a0":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_BREAK


def _is_capitalised(word: str) -> bool:
    return len(word) >= 2 and (word[0].isupper() or word[0].istitle())


def _extra_person_names(text: str) -> list[tuple[int, int]]:
    """Name shapes the scrubber leaves alone: "Szabina J Gelencsér" (unknown first name, middle initial)
    and lower-case "jared paavolainen" (known, unambiguous first name + a word that is not a stop word)."""
    spans: list[tuple[int, int]] = []
    for m in _INITIAL_NAME.finditer(text):
        first, last = m.group(1), m.group(2)
        if (
            _is_capitalised(first) and _is_capitalised(last)
            and first not in GENERIC_CAPITALISED and last not in GENERIC_CAPITALISED
            and not _sentence_start(text, m.start())
        ):
            spans.append(m.span())
    plain, _ = _first_names()
    for word in WORD.finditer(text):
        if not (len(word.group()) >= 3 and word.group().islower() and word.group().title() in plain):
            continue
        m = _LOWER_FIRST.match(text, word.start())
        if m and m.group(2).islower() and m.group(2) not in STOP_WORDS:
            spans.append(m.span())
    return spans


def _ambiguous_first_names(text: str) -> list[tuple[int, int]]:
    """ "Help with Mark": a first name that is also a word ("Mark", "Jordan", "Heather") standing alone,
    capitalised where a sentence does not start. The scrubber needs a surname for these; the auditor,
    seeing no more than a cluster name, rates the doubt 2."""
    _, ambiguous = _first_names()
    return [
        m.span()
        for m in WORD.finditer(text)
        if m.group() in ambiguous and m.group() not in GENERIC_CAPITALISED and not _sentence_start(text, m.start())
    ]


def _proper_noun_runs(text: str) -> list[tuple[int, int]]:
    """Spans of >= 2 adjacent capitalised, non-generic words not at a sentence start."""
    runs: list[tuple[int, int]] = []
    run: list[re.Match[str]] = []  # capitalised words of the current run
    last_end = -1  # end of the run's last word or particle
    capitalised_in_run = 0

    def close() -> None:
        nonlocal run, capitalised_in_run
        if capitalised_in_run >= 2:
            runs.append((run[0].start(), run[-1].end()))
        run, capitalised_in_run = [], 0

    for m in WORD.finditer(text):
        word = m.group()
        bare = _POSSESSIVE.sub("", word).strip("'’-")
        joined = bool(run) and text[last_end : m.start()] in _RUN_GAP
        if (
            _is_capitalised(bare)
            and bare not in GENERIC_CAPITALISED
            and not _sentence_start(text, m.start())
        ):
            if not joined:
                close()
            run.append(m)
            capitalised_in_run += 1
            last_end = m.end()
            # A possessive ends the proper noun: "Smith's Bakery" is two runs of one word.
            if bare != word.strip("'’-"):
                close()
        elif joined and word in _PARTICLES:
            last_end = m.end()
        else:
            close()
    close()
    return runs


class OfflineAuditor:
    """Rates "{name}: {description}" on Clio's 1–5 privacy scale with deterministic rules (see module doc)."""

    method = AUDIT_METHOD

    def __init__(self, rare_terms: frozenset[str] = frozenset(), safe_words: frozenset[str] = frozenset()):
        self.rare_terms = frozenset(t.lower() for t in rare_terms)
        # Public vocabulary (the taxonomy's words): never a rare user term, never part of a proper-noun run.
        self.safe_words = TEMPLATE_WORDS | frozenset(w.lower() for w in safe_words)

    @staticmethod
    def _text(name: str, description: str) -> str:
        name = name if isinstance(name, str) else ""
        description = description if isinstance(description, str) else ""
        if name and description:
            return f"{name}: {description}"
        return name or description

    def findings(self, name: str, description: str) -> tuple[AuditFinding, ...]:
        text = self._text(name, description)
        found: list[tuple[int, AuditFinding]] = []
        covered: list[tuple[int, int]] = []

        for r in find_pii(text):
            rule = "person_name" if r.kind == "NAME" else f"pii_{r.kind.lower()}"
            found.append((r.start, AuditFinding(rule, text[r.start : r.end], RULE_RATINGS[rule])))
            covered.append((r.start, r.end))
        for s, e in _extra_person_names(text):
            if not any(cs < e and s < ce for cs, ce in covered):
                found.append((s, AuditFinding("person_name", text[s:e], RULE_RATINGS["person_name"])))
                covered.append((s, e))
        for s, e in _ambiguous_first_names(text):
            if not any(cs < e and s < ce for cs, ce in covered):
                found.append((s, AuditFinding("possible_first_name", text[s:e], RULE_RATINGS["possible_first_name"])))
                covered.append((s, e))
        for m in _PLACEHOLDER_RE.finditer(text):
            found.append((m.start(), AuditFinding("placeholder", m.group(), RULE_RATINGS["placeholder"])))
        for m in _LONG_NUMBER.finditer(text):
            if not any(s <= m.start() and m.end() <= e for s, e in covered):
                found.append((m.start(), AuditFinding("long_number", m.group(), RULE_RATINGS["long_number"])))
        if self.rare_terms:
            seen: set[str] = set()
            for part in (name, description):
                if not isinstance(part, str):
                    continue
                for segment in _SEGMENT_SPLIT.split(_TEMPLATE_LEAD.sub("", part)):
                    for term in terms_of(segment):
                        if all(w in self.safe_words for w in term.split(" ")):
                            continue
                        if term in self.rare_terms and term not in seen:
                            seen.add(term)
                            pos = text.lower().find(term)
                            found.append(
                                (pos if pos >= 0 else len(text), AuditFinding("rare_term", term, RULE_RATINGS["rare_term"]))
                            )
        for s, e in _proper_noun_runs(text):
            if all(w.lower() in self.safe_words for w in WORD.findall(text[s:e])):
                continue
            if not any(cs < e and s < ce for cs, ce in covered):
                found.append((s, AuditFinding("proper_noun_run", text[s:e], RULE_RATINGS["proper_noun_run"])))

        unique: dict[tuple[str, str], tuple[int, AuditFinding]] = {}
        for pos, f in found:
            unique.setdefault((f.rule, f.detail), (pos, f))
        return tuple(f for _, f in sorted(unique.values(), key=lambda pf: (pf[0], pf[1].rating, pf[1].rule)))

    def backstop_findings(self, name: str, description: str) -> tuple[AuditFinding, ...]:
        """The findings that stand whatever an LLM auditor says (it can be wrong, or talked into a rating by the
        text it audits): PII, person names, scrubber placeholders and long numbers anywhere, and in the name a
        single word that fewer than min_unique_users users wrote. A name describes a cluster of at least that
        many users, so such a word was copied from the few who wrote it (this is how one user's injected name
        climbs into a published parent's name); an LLM's own words are in no summary and never count as
        rare. Descriptions are longer free text, where a rare word is mostly coincidence: the LLM auditor
        judges them."""
        hard = [f for f in self.findings(name, description) if f.rule.startswith(BACKSTOP_RULES)]
        rare_words = [f for f in self.findings(name, "") if f.rule == "rare_term" and " " not in f.detail]
        return tuple(hard + rare_words)

    def audit(self, name: str, description: str) -> AuditResult:
        findings = self.findings(name, description)
        rating = min((f.rating for f in findings), default=5)
        return AuditResult(rating, _reason(rating, findings), findings)

    def flagged_terms(self, name: str, description: str, max_rating: int = 5) -> set[str]:
        """Lower-cased tokens/terms behind findings rated <= `max_rating`, for a namer to drop and retry."""
        return {" ".join(f.detail.lower().split()) for f in self.findings(name, description) if f.rating <= max_rating}


def _reason(rating: int, findings: Sequence[AuditFinding]) -> str:
    if not findings:
        return "5: no identifying pattern found by the offline (heuristic) auditor."
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    worst = [rule for rule in counts if RULE_RATINGS[rule] == rating]
    others = [rule for rule in counts if RULE_RATINGS[rule] != rating]
    text = f"{rating}: contains " + "; ".join(f"{_RULE_TEXT[r]} ({r} x{counts[r]})" for r in worst)
    if others:
        text += "; also " + ", ".join(f"{r} x{counts[r]}" for r in sorted(others, key=lambda r: RULE_RATINGS[r]))
    return text + " (offline heuristic audit)."
