import random
import string

from clio_dagster.core.substrings import _DIRECT_SEARCH_MAX, count_substrings


def _brute(text: str, needles: list[str]) -> int:
    return sum(1 for n in needles if n and n in text)


def test_matches_plain_search_on_mixed_scripts_and_lengths():
    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + " -_é中文ü\n"
    text = "".join(rng.choice(alphabet) for _ in range(20_000))
    present = [text[i : i + rng.randint(1, 70)] for i in range(0, 19_000, 37)]
    absent = ["".join(rng.choice(string.ascii_letters) for _ in range(rng.choice([20, 24, 64]))) for _ in range(3_000)]
    # Many needles of one length go through the hashed windows; few go through plain search.
    same_length = [text[i : i + 20] for i in range(0, 19_000, 11)] + absent
    needles = present + absent + same_length + ["", "x" * 30_000]
    assert len([n for n in same_length if len(n) == 20]) > _DIRECT_SEARCH_MAX
    assert count_substrings(text, needles) == _brute(text, needles)


def test_a_needle_is_counted_once_per_occurrence_in_the_list_and_never_when_empty():
    assert count_substrings("conversation abc-123 by user 9f", ["abc-123", "abc-123", "9f", "", "zz"]) == 3
    assert count_substrings("", ["a", ""]) == 0
