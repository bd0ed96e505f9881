"""Campaigns (Clio §4.1): many accounts sending requests written from one template whose parts vary ("Write a
post for the {forum} forum saying the vaccine {claim}"), over one or several days, found as one finding.

Near-identical requests (core/coordination.py) split such a campaign by its slots: two requests that differ in
one slot are near-identical in embedding space only when the slot is short. Here requests are compared by
their words instead. Two requests are linked when the Jaccard similarity of their word sets reaches a
threshold; a campaign is a connected group of links. Requests that differ in every slot are rarely linked
directly, but each is linked to the ones that share all but one slot, so the chains join the whole template.
Candidate pairs come from MinHash signatures with banded locality-sensitive hashing (linear in the number of
requests; every candidate is then checked exactly), so a window of several days of traffic fits.

Pure functions: no Dagster, no storage. The output identifies accounts and holds request text; safety-mode
assets write it to the private DB only.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from datetime import date

import numpy as np
import regex

from clio_dagster.core.terms import nfc

# A token: a PII placeholder, one CJK character, a word (letters first) or a number. Every word counts,
# function words included: a template is its exact wording.
TOKEN = regex.compile(r"\[[A-Z_]+\]|[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W\d_][\w'’-]*|\d+")
SLOT = "{…}"
# MinHash with 40 bands of 3 rows: a pair at Jaccard 0.5 becomes a candidate with probability 0.995, at 0.3
# with 0.66 (checked exactly, then dropped), at 0.1 with 0.04.
BANDS, ROWS = 40, 3
# In one LSH bucket, each member is checked against at most this many following members: a campaign of
# thousands of near-identical requests stays linear, and its members still chain together.
BUCKET_NEIGHBOURS = 32
# A word belongs to the template when at least this share of the campaign's requests holds it at that place.
TEMPLATE_SHARE = 0.6
# Requests compared when choosing the one that stands for the campaign (the most similar to the others).
MEDOID_SAMPLE = 100


@dataclass(frozen=True)
class CampaignParams:
    similarity: float = 0.6  # Jaccard of word sets for a link
    min_accounts: int = 10  # distinct accounts in a campaign
    min_words: int = 6  # distinct words in a request (shorter ones cannot show a template) and fixed template words


@dataclass(frozen=True)
class Request:
    key: str  # conversation id (private)
    day: date
    account: str  # keyed hash
    text: str  # scrubbed request summary
    base_cluster: Hashable = None
    concern: int | None = None


@dataclass(frozen=True)
class Campaign:
    campaign_id: str  # stable while the campaign's earliest request stays in the window
    members: tuple[int, ...]  # indices into the requests, ascending
    accounts: int
    per_day: tuple[tuple[date, int, int], ...]  # (day, conversations, accounts), in date order
    base_clusters: tuple[tuple[date, Hashable], ...]
    template: str  # the shared wording, each varying part shown as SLOT
    slots: int
    template_words: int  # words of the template that are not slots
    variants: int  # distinct wordings among the members
    mean_similarity: float  # over the links found inside the campaign
    concerning_mean: float | None
    groups: tuple[int, ...]  # indices of the near-identical groups it holds

    @property
    def first_day(self) -> date:
        return self.per_day[0][0]

    @property
    def last_day(self) -> date:
        return self.per_day[-1][0]


def tokens(text: str) -> list[regex.Match]:
    return list(TOKEN.finditer(nfc(text)))


def _words(text: str) -> frozenset[str]:
    return frozenset(m.group().lower() for m in tokens(text))


def _token_hashes(words: frozenset[str]) -> np.ndarray:
    # blake2b: stable across processes (unlike hash()).
    return np.array([int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little") for w in words],
                    dtype=np.uint64)


def minhash_signatures(word_sets: Sequence[frozenset[str]], seed: int = 0) -> np.ndarray:
    """(len(word_sets), BANDS·ROWS) MinHash signatures. Each column hashes a word with its own seeded
    multiply-shift function, (a·x + b mod 2^64) >> 32, which mixes all 64 bits of the word's hash."""
    count = BANDS * ROWS
    rng = np.random.default_rng(seed)
    a = rng.integers(0, np.iinfo(np.uint64).max, size=count, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, np.iinfo(np.uint64).max, size=count, dtype=np.uint64, endpoint=True)
    hashes = [_token_hashes(s) for s in word_sets]
    lengths = np.array([len(h) for h in hashes])
    if not len(hashes) or (lengths == 0).any():
        raise ValueError("every word set needs at least one word")
    flat = np.concatenate(hashes)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    signatures = np.empty((len(hashes), count), dtype=np.uint64)
    shift = np.uint64(32)
    for column in range(count):
        values = (a[column] * flat + b[column]) >> shift  # wraps modulo 2^64 by design
        signatures[:, column] = np.minimum.reduceat(values, starts)
    return signatures


def candidate_pairs(signatures: np.ndarray) -> np.ndarray:
    """Pairs (i < j) that agree on every row of at least one band, as an (m, 2) array, sorted, unique."""
    n = len(signatures)
    found = []
    for band in range(BANDS):
        rows = np.ascontiguousarray(signatures[:, band * ROWS:(band + 1) * ROWS])
        _, bucket = np.unique(rows.view(np.dtype((np.void, rows.dtype.itemsize * ROWS))).ravel(),
                              return_inverse=True)
        order = np.argsort(bucket, kind="stable")
        sorted_buckets = bucket[order]
        for step in range(1, BUCKET_NEIGHBOURS + 1):
            same = sorted_buckets[step:] == sorted_buckets[:-step]
            if not same.any():
                break
            found.append(np.stack([order[:-step][same], order[step:][same]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(found), axis=1).astype(np.int64)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([codes // n, codes % n], axis=1)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def template_of(texts: Sequence[str]) -> tuple[str, int, int]:
    """(template, slots, fixed words): the wording of the text most similar to the others, each run of its
    words that fewer than TEMPLATE_SHARE of the texts hold at that place (aligned word by word) replaced by
    one SLOT."""
    sample = sorted(range(len(texts)), key=lambda i: (texts[i], i))[:: max(1, len(texts) // MEDOID_SAMPLE)]
    word_sets = {i: _words(texts[i]) for i in sample}
    medoid = max(sample, key=lambda i: (sum(jaccard(word_sets[i], word_sets[j]) for j in sample), -i))
    text = nfc(texts[medoid])
    matches = tokens(text)
    words = [m.group().lower() for m in matches]
    held = [0] * len(words)
    for i in sample:
        other = [m.group().lower() for m in tokens(texts[i])]
        for block in SequenceMatcher(None, words, other, autojunk=False).get_matching_blocks():
            for position in range(block.a, block.a + block.size):
                held[position] += 1
    parts: list[str] = []
    slots = fixed = 0
    run_start = None  # start of the current run of fixed tokens
    previous_end = 0
    for match, count in zip(matches, held):
        if count >= TEMPLATE_SHARE * len(sample):
            if run_start is None:
                run_start = match.start()
            previous_end = match.end()
            fixed += 1
            continue
        if run_start is not None:
            parts.append(text[run_start:previous_end])
            run_start = None
        if not parts or parts[-1] != SLOT:
            parts.append(SLOT)
            slots += 1
    if run_start is not None:
        parts.append(text[run_start:previous_end])
    return " ".join(parts), slots, fixed


def _campaign_id(request: Request) -> str:
    return "c" + hashlib.blake2b(f"{request.day}/{request.key}".encode(), digest_size=5).hexdigest()


def find_campaigns(requests: Sequence[Request], params: CampaignParams = CampaignParams(),
                   groups: Sequence[Sequence[int]] = (), seed: int = 0) -> list[Campaign]:
    """Campaigns among the requests (any number of days), most accounts first.

    `groups` (indices into `requests`) are near-identical groups found on embeddings (core/coordination.py):
    their members are linked too, so the groups a template was split into merge into one campaign, and a
    group of paraphrases with no shared wording still stands as a campaign of its own."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # Identical wordings are one node: the comparison runs over distinct word sets.
    node_of_words: dict[frozenset[str], int] = {}
    members_of: dict[int, list[int]] = defaultdict(list)
    node_of_request: dict[int, int] = {}
    grouped = {m for group in groups for m in group}
    for index, request in enumerate(requests):
        words = _words(request.text)
        if len(words) < params.min_words and index not in grouped:
            continue
        # A short request outside any group cannot show a template; a grouped one is its own node.
        key = words if len(words) >= params.min_words else frozenset({f"\0{index}"})
        node = node_of_words.setdefault(key, len(node_of_words))
        members_of[node].append(index)
        node_of_request[index] = node
    if not node_of_words:
        return []
    word_sets = list(node_of_words)
    pairs = candidate_pairs(minhash_signatures(word_sets, seed))
    similarity = np.array([jaccard(word_sets[i], word_sets[j]) for i, j in pairs], dtype=np.float64)
    links = pairs[similarity >= params.similarity]
    link_similarity = similarity[similarity >= params.similarity]
    group_links = np.array([(node_of_request[g[0]], node_of_request[m]) for g in groups for m in g[1:]],
                           dtype=np.int64).reshape(-1, 2)
    every_link = np.concatenate([links, group_links])
    n = len(word_sets)
    graph = coo_matrix((np.ones(len(every_link), np.int8), (every_link[:, 0], every_link[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    nodes_by_component: dict[int, list[int]] = defaultdict(list)
    for node, label in enumerate(component):
        nodes_by_component[int(label)].append(node)
    similarities: dict[int, list[float]] = defaultdict(list)
    for (i, _), s in zip(links, link_similarity):
        similarities[int(component[i])].append(float(s))

    campaigns = []
    for label, nodes in nodes_by_component.items():
        members = sorted(m for node in nodes for m in members_of[node])
        accounts = {requests[m].account for m in members}
        if len(accounts) < params.min_accounts:
            continue
        held = tuple(g for g, group in enumerate(groups) if component[node_of_request[group[0]]] == label)
        template, slots, fixed = template_of([requests[m].text for m in members])
        if fixed < params.min_words and not held:
            continue
        per_day = defaultdict(list)
        for m in members:
            per_day[requests[m].day].append(requests[m].account)
        clusters = sorted({(requests[m].day, requests[m].base_cluster) for m in members}, key=str)
        scores = [requests[m].concern for m in members if requests[m].concern is not None]
        earliest = min(members, key=lambda m: (requests[m].day, requests[m].key))
        campaigns.append(Campaign(
            campaign_id=_campaign_id(requests[earliest]), members=tuple(members), accounts=len(accounts),
            per_day=tuple((day, len(a), len(set(a))) for day, a in sorted(per_day.items())),
            base_clusters=tuple(clusters), template=template, slots=slots,
            template_words=fixed, variants=len(nodes),
            mean_similarity=float(np.mean(similarities[label])) if similarities[label] else 1.0,
            concerning_mean=sum(scores) / len(scores) if scores else None, groups=held,
        ))
    return sorted(campaigns, key=lambda c: (-c.accounts, -len(c.members), c.campaign_id))
