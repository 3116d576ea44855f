"""dbdgcn_lib.metrics against scikit-learn and against small examples computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve

from dbdgcn_lib.metrics import average_precision, multilabel_metrics, paper_tables, per_class_table, pr_curve


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_equals_sklearn_with_heavy_ties(seed):
    rng = np.random.default_rng(seed)
    n, c = 500, 12
    levels = rng.integers(2, 9, size=c)  # only a handful of distinct scores per class: many ties
    scores = (rng.integers(0, levels, size=(n, c)) / 8.0).astype(np.float32)
    targets = (rng.random((n, c)) < rng.uniform(0.02, 0.6, size=c)).astype(np.float32)
    targets[:, 0] = 0  # a class with no positive
    targets[:, 1] = (scores[:, 1] > 0.3) | (rng.random(n) < 0.1)  # an informative class
    ap = average_precision(scores, targets)
    assert np.isnan(ap[0])
    for k in range(1, c):
        assert ap[k] == pytest.approx(average_precision_score(targets[:, k], scores[:, k]), abs=1e-6)


def test_average_precision_by_hand_with_a_tie():
    # Ranking: 0.9 (+), then a tie {0.5 (+), 0.5 (-)}, then 0.1 (+).
    # Thresholds: P=1 at R=1/3; the tie as one step: P=2/3 at R=2/3; then P=3/4 at R=1.
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    targets = np.array([1, 1, 0, 1])
    expected = (1 + 2 / 3 + 3 / 4) / 3
    assert average_precision(scores, targets)[0] == pytest.approx(expected, abs=1e-12)


def test_pr_curve_matches_sklearn():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, size=(200, 3)) / 5.0
    targets = (rng.random((200, 3)) < 0.3).astype(float)
    curve = pr_curve(scores, targets, 2)
    precision, recall, thresholds = precision_recall_curve(targets[:, 2], scores[:, 2])
    np.testing.assert_allclose(curve.precision, precision[:-1][::-1])
    np.testing.assert_allclose(curve.recall, recall[:-1][::-1])
    np.testing.assert_allclose(curve.thresholds, thresholds[::-1])
    assert curve.ap == pytest.approx(average_precision_score(targets[:, 2], scores[:, 2]))


# Four images x three classes. Image 3 has no label; class 1 has no positive; threshold 0.5.
SCORES = np.array(
    [
        [0.9, 0.8, 0.1],
        [0.6, 0.3, 0.55],
        [0.4, 0.7, 0.3],
        [0.2, 0.1, 0.45],
    ]
)
TARGETS = np.array(
    [
        [1, 0, 1],
        [0, 0, 1],
        [1, 0, 0],
        [0, 0, 0],
    ]
)


def test_multilabel_metrics_by_hand():
    # class 0: predicted {0, 1}, positives {0, 2}: Nc 1, Np 2, Ng 2; AP = (1/1 + 2/3) / 2
    # class 1: no positive (left out of mAP/CP/CR); predicted {0, 2}: two false positives for OP
    # class 2: predicted {1}, positives {0, 1}: Nc 1, Np 1, Ng 2;
    #          ranking 1(+) 3(-) 2(-) 0(+): AP = (1 + 2/4) / 2
    with pytest.warns(RuntimeWarning, match="no positive"):
        m = multilabel_metrics(SCORES, TARGETS)
    cp, cr = (1 / 2 + 1 / 1) / 2, (1 / 2 + 1 / 2) / 2
    op, orr = 2 / (2 + 2 + 1), 2 / (2 + 2)
    expected = {
        "mAP": ((1 + 2 / 3) / 2 + (1 + 2 / 4) / 2) / 2,
        "CP": cp,
        "CR": cr,
        "CF1": 2 * cp * cr / (cp + cr),
        "OP": op,
        "OR": orr,
        "OF1": 2 * op * orr / (op + orr),
    }
    assert set(m) == set(expected)
    for key, value in expected.items():
        assert m[key] == pytest.approx(100 * value, abs=1e-9), key


def test_class_never_predicted_counts_as_zero_precision():
    scores = np.array([[0.9, 0.2], [0.1, 0.3]])
    targets = np.array([[1, 0], [0, 1]])
    m = multilabel_metrics(scores, targets)
    assert m["CP"] == pytest.approx(50.0)  # class 0: 1/1, class 1: nothing predicted -> 0
    assert m["CR"] == pytest.approx(50.0)
    assert m["OP"] == pytest.approx(100.0)


def test_top3_by_hand():
    # 5 classes, 3 images; image 2 has no label, class 2 has no positive.
    scores = np.array(
        [
            [0.9, 0.8, 0.7, 0.6, 0.1],  # >= 0.5: {0, 1, 2, 3}; top-3: {0, 1, 2}
            [0.3, 0.95, 0.2, 0.55, 0.52],  # >= 0.5: {1, 3, 4}; top-3: {1, 3, 4}
            [0.6, 0.1, 0.1, 0.1, 0.1],  # >= 0.5: {0}; top-3 and >= 0.5: {0}
        ]
    )
    targets = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 0, 0, 0]])
    # top-3, per class (Nc, Np, Ng): c0 (1, 2, 1), c1 (1, 2, 1), c2 (0, 1, 0), c3 (0, 1, 1), c4 (1, 1, 1)
    cp, cr = (1 / 2 + 1 / 2 + 0 + 1) / 4, (1 + 1 + 0 + 1) / 4
    op, orr = 3 / 7, 3 / 4
    with pytest.warns(RuntimeWarning):
        top3 = multilabel_metrics(scores, targets, top_k=3)
    for key, value in {"CP": cp, "CR": cr, "OP": op, "OR": orr}.items():
        assert top3[key] == pytest.approx(100 * value), key
    assert top3["CF1"] == pytest.approx(100 * 2 * cp * cr / (cp + cr))
    assert top3["OF1"] == pytest.approx(100 * 2 * op * orr / (op + orr))
    # Without top-k, class 3 is also predicted on image 0: c3 becomes (1, 2, 1).
    with pytest.warns(RuntimeWarning):
        full = multilabel_metrics(scores, targets)
    assert full["CR"] == pytest.approx(100.0)
    assert full["OP"] == pytest.approx(100 * 4 / 8)
    assert full["mAP"] == pytest.approx(top3["mAP"])


def test_paper_tables_equal_separate_calls():
    with pytest.warns(RuntimeWarning) as record:
        tables = paper_tables(SCORES, TARGETS, top_k=2)
    assert len(record) == 1  # one warning for both rows
    with pytest.warns(RuntimeWarning):
        assert tables["table1"] == multilabel_metrics(SCORES, TARGETS)
    with pytest.warns(RuntimeWarning):
        assert tables["table2"] == multilabel_metrics(SCORES, TARGETS, top_k=2)


def test_torch_input_equals_numpy():
    rng = np.random.default_rng(1)
    scores = rng.random((64, 7)).astype(np.float32)
    targets = (rng.random((64, 7)) < 0.4).astype(np.float32)
    a = multilabel_metrics(scores, targets, top_k=3)
    b = multilabel_metrics(torch.from_numpy(scores), torch.from_numpy(targets), top_k=3)
    assert a == b


def test_logits_are_refused():
    with pytest.raises(ValueError, match="sigmoid"):
        multilabel_metrics(np.array([[2.0, -1.0]]), np.array([[1, 0]]))


def test_per_class_table():
    ap = average_precision(SCORES, TARGETS)  # NaN for class b, no warning (only mAP warns)
    rows = per_class_table(SCORES, TARGETS, ["a", "b", "c"])
    assert [r["name"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["AP"] == pytest.approx(100 * ap[0])
    assert rows[0]["precision"] == pytest.approx(50.0) and rows[0]["recall"] == pytest.approx(50.0)
    assert np.isnan(rows[1]["AP"]) and np.isnan(rows[1]["recall"]) and rows[1]["predicted"] == 2
    assert rows[2]["positives"] == 2 and rows[2]["F1"] == pytest.approx(100 * 2 * 1 * 0.5 / 1.5)


def test_paper_tables_hold_the_papers_own_claims():
    """The typed tables agree with what the paper's text says about them (a guard against typos)."""
    from dbdgcn_lib.metrics import METRIC_KEYS, PAPER_TABLE1, PAPER_TABLE2

    assert all(list(row) == list(METRIC_KEYS) for row in PAPER_TABLE1.values())
    assert all(list(row) == list(METRIC_KEYS[1:]) for row in PAPER_TABLE2.values())
    ours = PAPER_TABLE1["DB-DGCN"]
    # quoted in the text
    assert (ours["mAP"], ours["CP"], ours["CR"], ours["CF1"]) == (82.9, 85.2, 71.5, 77.3)
    quoted = {"ME": 80.3, "ResNet-101": 79.8, "DecoupleNet": 80.5, "ML-GLLR": 81.1, "ADD-GCN": 81.3}
    assert {m: PAPER_TABLE1[m]["mAP"] for m in quoted} == quoted
    # "The proposed model performs best in all these indicators" (Table 2); best mAP in Table 1
    for key in METRIC_KEYS[1:]:
        assert max(PAPER_TABLE2, key=lambda m: PAPER_TABLE2[m][key]) == "DB-DGCN", key
    assert max(PAPER_TABLE1, key=lambda m: PAPER_TABLE1[m]["mAP"]) == "DB-DGCN"
    # F1 is the harmonic mean of P and R; the published rows (copied from earlier papers) deviate from
    # it by up to 1.75 points, a swapped or mistyped digit mostly by more
    for row in (*PAPER_TABLE1.values(), *PAPER_TABLE2.values()):
        for p, r, f1 in (("CP", "CR", "CF1"), ("OP", "OR", "OF1")):
            assert abs(2 * row[p] * row[r] / (row[p] + row[r]) - row[f1]) < 2.0
