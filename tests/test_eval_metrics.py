"""The evaluation metrics on tiny inputs whose values were worked out by hand (derivations in comments)."""

from __future__ import annotations

import math

import pytest

from clio_dagster.evaluation.metrics import accuracy, ari, macro_f1, nmi, per_group_accuracy, purity


def test_accuracy_counts_exact_matches():
    assert accuracy(["a", "b", "c", "a"], ["a", "b", "a", "b"]) == 0.5
    assert accuracy(["x"], ["x"]) == 1.0
    assert accuracy([1, 2, 3], [3, 1, 2]) == 0.0


def test_macro_f1_averages_per_class_f1():
    # a: tp 1, true 2, pred 1 -> F1 = 2*1/(2+1) = 2/3; b: tp 1, true 1, pred 2 -> 2/3; mean 2/3.
    assert macro_f1(["a", "a", "b"], ["a", "b", "b"]) == pytest.approx(2 / 3)
    # a: 2/(3+2)*2 = 0.8; b: tp 0 -> 0; c (predicted, never true): 0. Mean 0.8/3.
    assert macro_f1(["a", "a", "a", "b"], ["a", "a", "c", "c"]) == pytest.approx(0.8 / 3)
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0


def test_macro_f1_weights_rare_classes_like_common_ones():
    # 9 of class a all right, the single b predicted as a: accuracy 0.9 but
    # a: 2*9/(9+10) = 18/19, b: 0 -> macro 9/19.
    y_true = ["a"] * 9 + ["b"]
    y_pred = ["a"] * 10
    assert accuracy(y_true, y_pred) == 0.9
    assert macro_f1(y_true, y_pred) == pytest.approx(9 / 19)


def test_nmi_of_identical_and_independent_partitions():
    assert nmi([0, 0, 1, 1], ["x", "x", "y", "y"]) == pytest.approx(1.0)
    # Every cell of the 2x2 table holds one item: mutual information 0.
    assert nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)


def test_nmi_hand_computed():
    # a = [0,0,1,1], b = [0,0,0,1]: H(a) = ln 2, H(b) = -(3/4 ln 3/4 + 1/4 ln 1/4),
    # I = sum p(i,j) ln p(i,j)/(p(i)p(j)) over cells (0,0)=2/4, (1,0)=1/4, (1,1)=1/4.
    h_a = math.log(2)
    h_b = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    mi = 0.5 * math.log(0.5 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.25))
    expected = mi / ((h_a + h_b) / 2)
    assert nmi([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(expected)
    assert nmi([0, 0, 0, 1], [0, 0, 1, 1]) == pytest.approx(expected)  # symmetric


def test_ari_hand_computed():
    assert ari(["a", "a", "b", "b"], [5, 5, 7, 7]) == pytest.approx(1.0)
    # a = [0,0,1,1], b = [0,0,0,1]: pairs within cells: C(2,2) + C(1,2) + C(1,2) = 1;
    # rows: C(2,2)*2 = 2; columns: C(3,2) + 0 = 3; total pairs C(4,2) = 6.
    # expected = 2*3/6 = 1; max = (2+3)/2 = 2.5; ARI = (1-1)/(2.5-1) = 0.
    assert ari([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    # a = [0,0,0,1,1,1], b = [0,0,1,1,2,2]: index = C(2,2)+C(1,2)+C(1,2)+C(2,2) = 2; rows 3+3 = 6;
    # columns 1+1+1 = 3; total 15; expected 6*3/15 = 1.2; max 4.5; ARI = 0.8/3.3.
    assert ari([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.8 / 3.3)


def test_ari_can_be_negative():
    # Every pair together in one partition is apart in the other: index 0, expected 2*2/6, max 2.
    assert ari([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx((0 - 4 / 6) / (2 - 4 / 6))


def test_purity_takes_each_clusters_majority_label():
    # cluster 0: a,a,b -> 2; cluster 1: b,c -> 1; cluster 2: c -> 1; purity 4/6.
    assert purity(["a", "a", "b", "b", "c", "c"], [0, 0, 0, 1, 1, 2]) == pytest.approx(4 / 6)
    assert purity(["a", "b", "c"], [0, 1, 2]) == 1.0  # singletons are trivially pure
    assert purity(["a", "b", "b", "b"], [0, 0, 0, 0]) == 0.75  # one cluster: share of the majority label


def test_per_group_accuracy_scores_each_group_separately():
    result = per_group_accuracy(["a", "b", "a", "b", "a"], ["a", "a", "a", "b", "b"], ["en", "en", "fr", "fr", "fr"])
    assert result == {"en": 0.5, "fr": pytest.approx(2 / 3)}
    assert list(result) == ["en", "fr"]


@pytest.mark.parametrize("metric", [accuracy, macro_f1, nmi, ari, purity])
def test_metrics_reject_mismatched_or_empty_inputs(metric):
    with pytest.raises(ValueError):
        metric(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        metric([], [])


def test_per_group_accuracy_rejects_groups_of_another_length():
    with pytest.raises(ValueError):
        per_group_accuracy(["a", "b"], ["a", "b"], ["en"])


def test_labels_of_mixed_types_are_compared_as_values():
    # 1 and "1" are different labels; None is a label too (an unassigned prediction).
    assert accuracy([1, "1", None], ["1", "1", None]) == pytest.approx(2 / 3)
    assert nmi([1, "1", None, None], ["x", "y", "z", "z"]) == pytest.approx(1.0)
