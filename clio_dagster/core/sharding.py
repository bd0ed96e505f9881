"""Shards of a day (CLIO_DAY_SHARDS): contiguous, balanced slices of an ordered list, so that the same day always
splits the same way and every item lands in exactly one shard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def shard_of(items: Sequence[T], shard: int, shards: int) -> Sequence[T]:
    """Slice `shard` (0-based) of `shards` of `items`; sizes differ by at most one, larger slices first."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not one of 0..{shards - 1}")
    size, extra = divmod(len(items), shards)
    start = shard * size + min(shard, extra)
    return items[start : start + size + (1 if shard < extra else 0)]
