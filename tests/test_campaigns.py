"""Campaigns (safety mode): many accounts sending requests from one template are one finding, across slots and
days. Planted campaigns over real background traffic from ../shared/data, and the pure parts directly."""

from __future__ import annotations

import itertools
import random
from datetime import date

import numpy as np
import pytest

from clio_dagster.core.campaigns import (
    SLOT,
    CampaignParams,
    Request,
    candidate_pairs,
    find_campaigns,
    jaccard,
    minhash_signatures,
    template_of,
)
from clio_dagster.evaluation.campaigns import (
    PARAPHRASED,
    THREE_SLOTS,
    TWO_SLOTS,
    background_records,
    offline_requests,
    planted_records,
    planted_share,
)

from tests.conftest import SHARED_DATA

DAY = date(2024, 3, 4)
DAYS = (DAY, date(2024, 3, 5), date(2024, 3, 6))


@pytest.fixture(scope="module")
def background():
    return offline_requests(background_records(SHARED_DATA, [DAY]))


def _holding(campaigns, requests, prefix):
    return [c for c in campaigns if planted_share(c, requests, prefix)[0]]


@pytest.mark.shared_data
@pytest.mark.parametrize("template", [TWO_SLOTS, THREE_SLOTS], ids=["2 slots", "3 slots"])
def test_a_templated_campaign_over_real_background_is_one_campaign(background, template):
    planted = offline_requests(planted_records(template, accounts=30, per_account=2, days=[DAY]))
    requests = background + planted
    campaigns = find_campaigns(requests)
    prefix = f"planted/{template.name}/"
    holding = _holding(campaigns, requests, prefix)
    assert len(holding) == 1, [c.template for c in holding]
    planted_accounts, other_accounts = planted_share(holding[0], requests, prefix)
    assert planted_accounts >= 27 and other_accounts == 0  # >= 90% of the 30 accounts, no background
    campaign = holding[0]
    assert campaign.slots == len(template.slots) and "Write a" in campaign.template and SLOT in campaign.template
    # Every slot value varies, so no single wording stands for the campaign.
    assert campaign.variants >= 10 and campaign.per_day == ((DAY, len(campaign.members), campaign.accounts),)


@pytest.mark.shared_data
def test_the_same_campaign_over_three_days_is_one_with_its_daily_counts(background):
    planted = offline_requests(planted_records(TWO_SLOTS, accounts=30, per_account=2, days=DAYS, seed=3))
    moved = [Request(r.key, DAYS[i % 3], r.account, r.text) for i, r in enumerate(background)]
    requests = moved + planted
    holding = _holding(find_campaigns(requests), requests, "planted/vaccine-claims/")
    assert len(holding) == 1
    campaign = holding[0]
    expected = {d: sum(1 for r in planted if r.day == d) for d in DAYS}
    assert [(d, n) for d, n, _ in campaign.per_day] == sorted(expected.items())
    assert (campaign.first_day, campaign.last_day) == (DAYS[0], DAYS[-1])
    # The id stays while the campaign's earliest request is in the window: the same campaign seen from day 2.
    first_two = [r for r in requests if r.day <= DAYS[1]]
    earlier = _holding(find_campaigns(first_two), first_two, "planted/vaccine-claims/")
    assert [c.campaign_id for c in earlier] == [campaign.campaign_id]


@pytest.mark.shared_data
def test_a_paraphrased_campaign_is_not_found_by_its_words(background):
    """The measured limit: 30 accounts each wording the same request their own way share too few words
    (median Jaccard 0.14) for a template; only a near-identical group found on embeddings joins them."""
    planted = offline_requests(planted_records(PARAPHRASED, accounts=30, per_account=1, days=[DAY]))
    requests = background + planted
    assert _holding(find_campaigns(requests), requests, "planted/paraphrased/") == []
    pairs = [jaccard(*(frozenset(t.lower().split()) for t in pair)) for pair in itertools.combinations(PARAPHRASED, 2)]
    assert float(np.median(pairs)) < 0.2
    # Given as a near-identical group (coordinated_use at a lower cosine), it stands as one campaign.
    group = list(range(len(background), len(requests)))
    found = _holding(find_campaigns(requests, groups=[group]), requests, "planted/paraphrased/")
    assert len(found) == 1 and found[0].accounts == 30 and found[0].groups == (0,)


def test_near_identical_groups_split_by_a_slot_merge_into_one_campaign():
    claims = ["causes infertility", "contains microchips", "alters DNA"]
    requests = [Request(f"k{c}-{a}", DAY, f"acct{c}-{a}", f"Post on forum {a % 4} that the Veltrix vaccine {claim}")
                for c, claim in enumerate(claims) for a in range(8)]
    groups = [list(range(c * 8, c * 8 + 8)) for c in range(3)]  # one group per claim, as embeddings split them
    campaigns = find_campaigns(requests, CampaignParams(min_accounts=10), groups=groups)
    assert len(campaigns) == 1 and campaigns[0].groups == (0, 1, 2) and campaigns[0].accounts == 24


def test_short_or_few_account_requests_are_no_campaign():
    hello = [Request(f"h{i}", DAY, f"u{i}", "hi there, how are you") for i in range(50)]
    template = [Request(f"t{i}", DAY, f"bot{i % 3}", f"Write a five star review of the Acme {i} blender "
                        f"for the shop page") for i in range(40)]
    assert find_campaigns(hello + template) == []  # 5 words each; 3 accounts
    assert len(find_campaigns(hello + template, CampaignParams(min_accounts=3, min_words=4))) == 2


def test_template_shows_the_varying_parts_as_slots():
    texts = [f"Write a post for {p} saying that the vaccine {c}." for p, c in itertools.product(
        ["the mums forum", "a nurses channel", "r/health"], ["causes harm", "tracks people with chips", "is untested"])]
    template, slots, fixed = template_of(texts)
    assert template == f"Write a post for {SLOT} saying that the vaccine {SLOT}" and (slots, fixed) == (2, 8)


def test_lsh_finds_every_pair_above_the_threshold():
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(300)]
    bases = [rng.sample(vocabulary, 12) for _ in range(40)]
    sets = [frozenset(rng.sample(b, 10) + rng.sample(vocabulary, 2)) for b in bases for _ in range(3)]
    exact = {(i, j) for i, j in itertools.combinations(range(len(sets)), 2) if jaccard(sets[i], sets[j]) >= 0.6}
    found = {tuple(p) for p in candidate_pairs(minhash_signatures(sets, seed=0)).tolist()}
    assert exact and exact <= found
    assert len(found) < len(sets) * (len(sets) - 1) / 20  # candidates, not every pair
    assert np.array_equal(minhash_signatures(sets, seed=0), minhash_signatures(sets, seed=0))
