import pytest

from clio_dagster.core.sharding import shard_of


@pytest.mark.parametrize("n, shards", [(0, 1), (0, 3), (1, 2), (7, 3), (10, 4), (200, 2), (5, 8)])
def test_every_item_lands_in_exactly_one_balanced_shard_in_order(n, shards):
    items = list(range(n))
    slices = [list(shard_of(items, i, shards)) for i in range(shards)]
    assert [x for s in slices for x in s] == items
    sizes = [len(s) for s in slices]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_a_shard_outside_the_range_is_refused():
    with pytest.raises(ValueError, match="shard 2 is not one of 0..1"):
        shard_of([1, 2, 3], 2, 2)
