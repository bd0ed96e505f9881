"""Which of many strings occur in one text, in time linear in the text per distinct needle length.

`needle in text` for each of 100k conversation ids and user hashes against the public DB's text is
100k passes over megabytes. Here every window of the text with a needle's length (in UTF-8 bytes, where a
byte substring match is exactly a character substring match) gets a polynomial hash mod 2^64, computed for
all windows at once with numpy; only needles whose hash is among the windows' are then checked with `in`,
so a hash collision can cost time but never a wrong answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

_BASE = 1_099_511_628_211  # odd, so invertible mod 2^64
_MOD = 2**64
# Below this many needles of one length, plain `in` per needle is cheaper than hashing the text's windows.
_DIRECT_SEARCH_MAX = 64


def _powers(base: int, count: int) -> np.ndarray:
    """base^0 .. base^(count-1) mod 2^64."""
    out = np.full(count, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)


def _window_hashes(data: np.ndarray, length: int) -> np.ndarray:
    """Hash of every `length`-byte window of `data`: sum of byte[m] * BASE^(length-1-m) mod 2^64."""
    n = len(data)
    # prefix[i] = sum over j < i of byte[j] * BASE^(n-1-j); a window's difference of prefixes is its hash
    # times BASE^(n-length-i), undone with the inverse power.
    weights = _powers(_BASE, n)[::-1]
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(data.astype(np.uint64) * weights, dtype=np.uint64, out=prefix[1:])
    starts = np.arange(n - length + 1)
    raw = prefix[starts + length] - prefix[starts]
    inverse = _powers(pow(_BASE, -1, _MOD), n - length + 1)
    return raw * inverse[n - length - starts]


def _needle_hashes(needles: list[bytes], length: int) -> np.ndarray:
    matrix = np.frombuffer(b"".join(needles), dtype=np.uint8).reshape(len(needles), length).astype(np.uint64)
    return (matrix * _powers(_BASE, length)[::-1]).sum(axis=1, dtype=np.uint64)


def count_substrings(text: str, needles: Iterable[str]) -> int:
    """How many of `needles` (empty ones never count) occur in `text`."""
    data = text.encode("utf-8")
    by_length: dict[int, list[str]] = defaultdict(list)
    for needle in needles:
        encoded = needle.encode("utf-8")
        if needle and len(encoded) <= len(data):
            by_length[len(encoded)].append(needle)
    array = np.frombuffer(data, dtype=np.uint8)
    found = 0
    for length, group in sorted(by_length.items()):
        if len(group) > _DIRECT_SEARCH_MAX:
            windows = np.sort(_window_hashes(array, length))
            hashes = _needle_hashes([g.encode("utf-8") for g in group], length)
            at = np.minimum(np.searchsorted(windows, hashes), len(windows) - 1)
            group = [g for g, hit in zip(group, windows[at] == hashes) if hit]
        found += sum(1 for needle in group if needle in text)
    return found
