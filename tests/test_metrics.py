"""dbdgcn_lib.metrics against scikit-learn and against small examples computed by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve

from dbdgcn_lib.metrics import average_precision, multilabel_metrics, paper_tables, per_class_table, pr_curve


def _bf16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16's 8 significant bits (by torch, independently of the library)."""
    return torch.from_numpy(x.astype(np.float32)).bfloat16().float().numpy()


def test_average_precision_equals_sklearn_over_many_tied_cases():
    rng = np.random.default_rng(0)
    for case in range(60):
        n, c = int(rng.integers(2, 300)), int(rng.integers(1, 9))
        kind = case % 3
        if kind == 0:  # a handful of distinct scores per class: heavy ties
            scores = rng.integers(0, rng.integers(1, 9, size=c), size=(n, c)) / 8.0
        elif kind == 1:  # bf16-rounded probabilities, as a bf16 model gives them
            scores = _bf16(rng.beta(0.5, 2.0, size=(n, c)))
        else:  # float64 with a few exact duplicates
            scores = rng.random((n, c))
            scores[rng.random((n, c)) < 0.2] = 0.5
        targets = (rng.random((n, c)) < rng.uniform(0.01, 0.7, size=c)).astype(np.float64)
        targets[rng.integers(n), :] = 1  # every class has a positive
        ap = average_precision(scores, targets)
        expected = [average_precision_score(targets[:, k], scores[:, k]) for k in range(c)]
        np.testing.assert_allclose(ap, expected, rtol=0, atol=1e-9, err_msg=f"case {case}")


def test_average_precision_all_tied_is_the_prevalence():
    # One threshold holds every image: precision = positives / images for every positive.
    scores = np.full((7, 2), 0.25)
    targets = np.array([[1, 0], [0, 0], [1, 0], [0, 1], [0, 0], [1, 0], [0, 0]])
    np.testing.assert_allclose(average_precision(scores, targets), [3 / 7, 1 / 7], rtol=0, atol=1e-15)
    assert average_precision(scores, targets)[0] == pytest.approx(
        average_precision_score(targets[:, 0], scores[:, 0]), abs=1e-15
    )


def test_average_precision_single_positive_counts_its_whole_tie_group():
    # The positive scores 0.5 beside two negatives at 0.5 and one above: 4 images score >= 0.5.
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.2])
    targets = np.array([0, 0, 1, 0, 0])
    assert average_precision(scores, targets)[0] == pytest.approx(1 / 4, abs=1e-15)
    assert average_precision(scores, targets)[0] == pytest.approx(
        average_precision_score(targets, scores), abs=1e-15
    )


def test_average_precision_is_nan_without_positive_and_does_not_warn():
    scores = np.array([[0.9, 0.3], [0.2, 0.8], [0.5, 0.5]], dtype=np.float32)
    targets = np.array([[1, 0], [0, 0], [1, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ap = average_precision(scores, targets)
    assert ap[0] == pytest.approx(1.0) and np.isnan(ap[1])


def test_average_precision_of_bf16_tensor_equals_numpy():
    rng = np.random.default_rng(4)
    probabilities = torch.from_numpy(rng.random((300, 5))).bfloat16()
    targets = torch.from_numpy((rng.random((300, 5)) < 0.3).astype(np.float32))
    ap = average_precision(probabilities, targets)
    expected = [
        average_precision_score(targets[:, k].numpy(), probabilities[:, k].float().numpy()) for k in range(5)
    ]
    np.testing.assert_allclose(ap, expected, rtol=0, atol=1e-9)


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


def test_a_score_exactly_at_the_threshold_is_a_prediction():
    # The rule of SPEC section 4 and ML-GCN's meter (logits >= 0): a label is predicted when its
    # probability is >= 0.5, so 0.5 itself counts. 0.5 and 0.4999999 are exact in float32 too.
    scores = np.array([[0.5, 0.4999999], [0.25, 0.5]], dtype=np.float32)
    targets = np.array([[1, 0], [0, 1]])
    # class 0: image 0 predicted (0.5) and positive; class 1: image 1 predicted (0.5) and positive,
    # image 0 (0.4999999) not predicted: every prediction right, every positive found
    m = multilabel_metrics(scores, targets)
    for key in ("CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert m[key] == pytest.approx(100.0), key
    top1 = multilabel_metrics(scores, targets, top_k=1)  # both rules at once: top-1 and >= 0.5
    assert (top1["OP"], top1["OR"]) == (pytest.approx(100.0), pytest.approx(100.0))
    below = multilabel_metrics(np.nextafter(scores, np.float32(0)), targets)  # just under 0.5: none
    assert (below["OP"], below["OR"], below["CR"]) == (0.0, 0.0, 0.0)


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


# Out-of-scene metrics. Five images x classes (a, b, c); "out" marks the out-of-scene label.
# image 0: a (in), b (out)   scores .9 .6 .2
# image 1: a (out), c (in)   scores .4 .6 .8
# image 2: b (in), c (out)   scores .3 .5 .3
# image 3: a (in), b (out)   scores .6 .2 .5
# image 4: a, no out-of-scene label: not measured (its high scores would change every AP)
OOS_SCORES = np.array(
    [[0.9, 0.6, 0.2], [0.4, 0.6, 0.8], [0.3, 0.5, 0.3], [0.6, 0.2, 0.5], [0.95, 0.99, 0.99]]
)
OOS_TARGETS = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]])
OOS_MASK = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0]], dtype=bool)


def test_out_of_scene_metrics_by_hand():
    from dbdgcn_lib.metrics import OUT_OF_SCENE_KEYS, out_of_scene_metrics

    m = out_of_scene_metrics(OOS_SCORES, OOS_TARGETS, OOS_MASK)
    assert tuple(m) == OUT_OF_SCENE_KEYS
    # recall at 0.5: out-of-scene b@0 .6 yes, a@1 .4, c@2 .3, b@3 .2 no; in-scene .9 .8 .5 .6 all yes
    assert m["out_of_scene_recall"] == pytest.approx(25.0)
    assert m["in_scene_recall"] == pytest.approx(100.0)
    # out-of-scene AP (images 0-3; an in-scene positive of the class is left out):
    #   a: ranks images 1 (+ .4), 2 (.3); 0 and 3 left out                       -> 1
    #   b: ranks 0 (+ .6), 1 (.6, tied with the positive), 3 (+ .2); 2 left out -> (1/2 + 2/3) / 2
    #   c: ranks 0 (.2), 2 (+ .3), 3 (.5); 1 left out                            -> 1/2
    assert m["out_of_scene_mAP"] == pytest.approx(100 * (1 + 7 / 12 + 1 / 2) / 3, abs=1e-9)
    # in-scene AP: a: 0 (+ .9), 2 (.3), 3 (+ .6); 1 left out -> (1 + 1) / 2
    #   b: 1 (.6), 2 (+ .5); 0, 3 left out -> 1/2;   c: 0 (.2), 1 (+ .8), 3 (.5); 2 left out -> 1
    assert m["in_scene_mAP"] == pytest.approx(100 * (1 + 1 / 2 + 1) / 3, abs=1e-9)
    expected_counts = {"out_of_scene_labels": 4, "in_scene_labels": 4, "images": 4}
    assert {k: m[k] for k in expected_counts} == expected_counts
    assert (m["out_of_scene_classes"], m["in_scene_classes"]) == (3, 3)


def test_out_of_scene_ap_equals_sklearn_on_the_counted_images():
    from dbdgcn_lib.metrics import out_of_scene_metrics

    rng = np.random.default_rng(5)
    n, c = 200, 6
    targets = (rng.random((n, c)) < 0.3).astype(np.float32)
    intruder = rng.integers(0, c, size=n)
    targets[np.arange(n), intruder] = 1
    mask = np.zeros((n, c), dtype=bool)
    mask[np.arange(n), intruder] = True
    mask[rng.random(n) < 0.2, :] = False  # some images without an intruder: not measured
    scores = _bf16(rng.random((n, c)))  # ties
    m = out_of_scene_metrics(scores, targets, mask)
    rows = mask.any(axis=1)
    outside, inside = mask[rows], (targets[rows] > 0) & ~mask[rows]
    for kind, positive, other in (("out_of_scene", outside, inside), ("in_scene", inside, outside)):
        aps = [
            average_precision_score(positive[~other[:, k], k], scores[rows][~other[:, k], k])
            for k in range(c)
            if positive[:, k].any()
        ]
        assert m[f"{kind}_mAP"] == pytest.approx(100 * np.mean(aps), abs=1e-9), kind
        assert m[f"{kind}_classes"] == len(aps)
        recall = (scores[rows][positive] >= 0.5).mean()
        assert m[f"{kind}_recall"] == pytest.approx(100 * recall, abs=1e-9), kind
    assert m["images"] == rows.sum() and m["out_of_scene_labels"] == rows.sum()


def test_out_of_scene_metrics_refuse_bad_masks():
    from dbdgcn_lib.metrics import out_of_scene_metrics

    with pytest.raises(ValueError, match="subset of the positives"):
        out_of_scene_metrics(OOS_SCORES, OOS_TARGETS, OOS_MASK | np.eye(5, 3, dtype=bool)[:, ::-1])
    with pytest.raises(ValueError, match="no label"):
        out_of_scene_metrics(OOS_SCORES, OOS_TARGETS, np.zeros_like(OOS_MASK))
    with pytest.raises(ValueError, match="shape"):
        out_of_scene_metrics(OOS_SCORES, OOS_TARGETS, OOS_MASK[:4])
    with pytest.raises(ValueError, match="sigmoid"):
        out_of_scene_metrics(OOS_SCORES * 3, OOS_TARGETS, OOS_MASK)


def test_out_of_scene_kind_without_labels_is_nan():
    from dbdgcn_lib.metrics import out_of_scene_metrics

    # Every positive is out of scene: the in-scene kind is empty.
    m = out_of_scene_metrics(
        np.array([[0.7, 0.1], [0.2, 0.4]]), np.array([[1, 0], [0, 1]]), np.eye(2, dtype=bool)
    )
    assert m["out_of_scene_recall"] == pytest.approx(50.0) and m["out_of_scene_mAP"] == pytest.approx(100.0)
    assert np.isnan(m["in_scene_recall"]) and np.isnan(m["in_scene_mAP"])
    assert (m["in_scene_labels"], m["in_scene_classes"]) == (0, 0)


# The bootstrap (the noise verdict and the chance level: tests/test_statistics.py).


def test_resample_indices_are_seeded_draws_with_replacement():
    from dbdgcn_lib.metrics import resample_indices

    a = resample_indices(50, resamples=400, seed=3)
    assert a.shape == (400, 50) and a.min() == 0 and a.max() == 49
    np.testing.assert_array_equal(a, resample_indices(50, resamples=400, seed=3))
    assert not np.array_equal(a, resample_indices(50, resamples=400, seed=4))
    # With replacement: a draw of 50 from 50 misses about 1/e of the rows.
    assert np.mean([np.unique(row).size for row in a]) == pytest.approx(50 * (1 - (49 / 50) ** 50), rel=0.02)
    with pytest.raises(ValueError, match="n_rows"):
        resample_indices(0)


def test_bootstrap_evaluates_the_metric_on_each_resample():
    from dbdgcn_lib.metrics import bootstrap

    # One class: scores .8 (-), .6 (+), .4 (+).
    scores, targets = np.array([0.8, 0.6, 0.4]), np.array([0, 1, 1])
    resamples = np.array([[0, 1, 2], [0, 0, 1], [1, 2, 2]])
    values = bootstrap(lambda s, t: average_precision(s, t)[0], scores, targets, resamples=resamples)
    # all rows: (1/2 + 2/3) / 2; rows 0, 0, 1: the positive under two negatives, 1/3; only positives: 1
    np.testing.assert_allclose(values, [7 / 12, 1 / 3, 1.0], rtol=0, atol=1e-15)
    means = bootstrap(
        lambda x: float(x.mean()),
        torch.tensor([1.0, 2.0, 3.0, 4.0]),
        resamples=np.array([[0, 0, 1, 3], [2, 2, 2, 2]]),
    )
    np.testing.assert_allclose(means, [2.0, 3.0])
    with pytest.raises(ValueError, match="first dimension"):
        bootstrap(np.mean, scores, targets[:2], resamples=resamples)
    with pytest.raises(ValueError, match="outside"):
        bootstrap(np.mean, scores, resamples=resamples + 1)


def test_bootstrap_of_out_of_scene_metrics_returns_one_array_per_key():
    from dbdgcn_lib.metrics import OUT_OF_SCENE_KEYS, bootstrap, out_of_scene_metrics

    resamples = np.array([[0, 1, 2, 3, 4], [0, 0, 1, 2, 3]])
    values = bootstrap(out_of_scene_metrics, OOS_SCORES, OOS_TARGETS, OOS_MASK, resamples=resamples)
    assert tuple(values) == OUT_OF_SCENE_KEYS and values["images"].shape == (2,)
    # The first resample is the whole set; the second counts image 0 twice: out-of-scene b@0 (hit) twice.
    assert values["out_of_scene_recall"][0] == pytest.approx(25.0)
    assert values["out_of_scene_recall"][1] == pytest.approx(100 * 2 / 5)
    assert values["out_of_scene_labels"].tolist() == [4, 5]


def test_paired_bootstrap_is_the_difference_on_the_same_draws():
    from dbdgcn_lib.metrics import paired_bootstrap

    targets = np.array([0, 1, 1])
    better, worse = np.array([0.1, 0.6, 0.4]), np.array([0.8, 0.6, 0.4])
    resamples = np.array([[0, 1, 2], [0, 0, 1], [1, 1, 2]])
    diff = paired_bootstrap(
        lambda s, t: 100 * average_precision(s, t)[0], (better, targets), (worse, targets), resamples
    )
    # better ranks the positives first: AP 1 everywhere; worse: 7/12, 1/3, then 1 (no negative drawn)
    np.testing.assert_allclose(diff, [100 * 5 / 12, 100 * 2 / 3, 0.0], rtol=0, atol=1e-12)


def test_paired_bootstrap_refuses_models_scored_on_different_images():
    from dbdgcn_lib.metrics import paired_bootstrap, resample_indices

    rng = np.random.default_rng(0)
    targets = (rng.random((100, 3)) < 0.3).astype(float)
    candidate, reference = (rng.random((100, 3)), targets), (rng.random((60, 3)), targets[:60])
    with pytest.raises(ValueError, match="candidate has 100 rows, reference 60"):
        paired_bootstrap(
            lambda s, t: average_precision(s, t)[0], candidate, reference, resample_indices(60, 5)
        )
