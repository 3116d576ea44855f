import itertools

import numpy as np
import pytest
import torch

from dbdgcn_lib.data import coco_label_statistics
from dbdgcn_lib.graph import (
    ADJACENCY_CONVENTIONS,
    conditional_probability,
    cooccurrence,
    normalize_adjacency,
    static_adjacency,
    unseen_pairs,
)

# 5 images, 4 classes; class 3 never occurs.
LABELS = np.array(
    [
        [1, 1, 0, 0],
        [1, 1, 0, 0],
        [1, 0, 1, 0],
        [0, 1, 0, 0],
        [1, 0, 0, 0],
    ]
)


def brute_force(labels):
    n, c = labels.shape
    nums = np.zeros(c, dtype=np.int64)
    counts = np.zeros((c, c), dtype=np.int64)
    for row in labels:
        present = [k for k in range(c) if row[k]]
        for i in present:
            nums[i] += 1
        for i, j in itertools.permutations(present, 2):
            counts[i, j] += 1
    return nums, counts


@pytest.mark.parametrize("kind", ["numpy", "torch_float", "torch_uint8"])
def test_cooccurrence_matches_brute_force(kind):
    rng = np.random.default_rng(0)
    labels = (rng.random((60, 7)) < 0.35).astype(np.int64)
    given = {
        "numpy": labels,
        "torch_float": torch.tensor(labels, dtype=torch.float32),
        "torch_uint8": torch.tensor(labels, dtype=torch.uint8),
    }[kind]
    nums, counts = cooccurrence(given)
    expected_nums, expected_counts = brute_force(labels)
    assert nums.dtype == np.int64 and counts.dtype == np.int64
    np.testing.assert_array_equal(nums, expected_nums)
    np.testing.assert_array_equal(counts, expected_counts)
    assert (np.diag(counts) == 0).all()
    np.testing.assert_array_equal(counts, counts.T)


def test_cooccurrence_rejects_non_binary_labels():
    with pytest.raises(ValueError, match="0 and 1"):
        cooccurrence(np.array([[0, 2], [1, 0]]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        cooccurrence(np.array([0, 1]))


def test_conditional_probability_hand_computed():
    nums, counts = cooccurrence(LABELS)
    np.testing.assert_array_equal(nums, [4, 3, 1, 0])
    expected = np.array(
        [
            [0, 2 / 4, 1 / 4, 0],
            [2 / 3, 0, 0, 0],
            [1, 0, 0, 0],
            [0, 0, 0, 0],  # never-seen class: a zero row, not NaN
        ]
    )
    np.testing.assert_allclose(conditional_probability(nums, counts), expected)


@pytest.mark.parametrize(
    ("tau", "expected"),
    [
        (  # default: 0 -> 1 (0.5), 1 -> 0 (2/3), 2 -> 0 (1); class 3 keeps only itself
            0.4,
            [[0.8, 0.2, 0, 0], [0.2, 0.8, 0, 0], [0.2, 0, 0.8, 0], [0, 0, 0, 1]],
        ),
        (  # P(2 | 0) = 0.25 == tau passes (>=): p shared by two neighbours
            0.25,
            [[0.8, 0.1, 0.1, 0], [0.2, 0.8, 0, 0], [0.2, 0, 0.8, 0], [0, 0, 0, 1]],
        ),
        (  # only P = 1 (class 2 always with class 0); rows without neighbours keep diagonal 1
            1.0,
            [[1, 0, 0, 0], [0, 1, 0, 0], [0.2, 0, 0.8, 0], [0, 0, 0, 1]],
        ),
        (  # tau = 0: complete graph, even for the never-seen class
            0.0,
            [[0.8 if i == j else 0.2 / 3 for j in range(4)] for i in range(4)],
        ),
    ],
)
def test_static_adjacency_hand_computed(tau, expected):
    a = static_adjacency(*cooccurrence(LABELS), tau=tau, p=0.2)
    assert a.dtype == np.float32 and a.shape == (4, 4)
    np.testing.assert_allclose(a, np.array(expected), atol=1e-7)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-6)


def test_static_adjacency_threshold_is_inclusive_at_default_tau():
    # P(1 | 0) = 2/5 = 0.4 exactly: an edge; P(2 | 0) = 1/5: none
    labels = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 0], [1, 0, 0]])
    a = static_adjacency(*cooccurrence(labels))
    np.testing.assert_allclose(a[0], [0.8, 0.2, 0.0])


def test_static_adjacency_never_seen_class_row_and_column():
    a = static_adjacency(*cooccurrence(LABELS))
    np.testing.assert_array_equal(a[3], [0, 0, 0, 1])
    np.testing.assert_array_equal(a[:3, 3], [0, 0, 0])


@pytest.mark.parametrize(("p", "diag"), [(0.0, 1.0), (1.0, 0.0)])
def test_static_adjacency_extreme_p(p, diag):
    a = static_adjacency(*cooccurrence(LABELS), tau=0.4, p=p)
    assert a[0, 0] == diag and a[0, 1] == 1.0 - diag
    assert a[3, 3] == 1.0  # no neighbour: itself whatever p


@pytest.mark.parametrize("kwargs", [{"tau": -0.1}, {"tau": 1.5}, {"p": -0.5}, {"p": 2.0}])
def test_static_adjacency_rejects_out_of_range(kwargs):
    with pytest.raises(ValueError):
        static_adjacency(*cooccurrence(LABELS), **kwargs)


def test_normalize_adjacency_hand_computed_and_zero_row():
    a = np.array([[1.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    d = 1 / np.sqrt([2.0, 4.0])
    expected = np.array([[d[0] * d[0], d[0] * d[1], 0], [d[1] * d[0], 3 * d[1] * d[1], 0], [0, 0, 0]])
    np.testing.assert_allclose(normalize_adjacency(a), expected)
    out_t = normalize_adjacency(torch.tensor(a, dtype=torch.float32))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), expected, rtol=1e-6)


def test_normalize_adjacency_leaves_static_prior_unchanged():
    rng = np.random.default_rng(1)
    labels = (rng.random((200, 10)) < 0.3).astype(int)
    a = static_adjacency(*cooccurrence(labels), tau=0.3)
    np.testing.assert_allclose(normalize_adjacency(a), a, atol=1e-6)


# --- the direction of the static prior: ML-GCN's paper against its released code ------------------------


def test_static_adjacency_ml_gcn_code_hand_computed():
    # P(j | i) >= 0.4 for 0 -> 1, 1 -> 0, 2 -> 0; the code's direction reverses each edge:
    # node 0 gathers from 1 and 2 (P(0 | 1) = 2/3, P(0 | 2) = 1), node 1 from 0 (P(1 | 0) = 0.5),
    # node 2 from nobody (P(2 | 0) = 0.25), class 3 never occurs
    a = static_adjacency(*cooccurrence(LABELS), tau=0.4, p=0.2, convention="ml_gcn_code")
    expected = [[0.8, 0.1, 0.1, 0], [0.2, 0.8, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, np.array(expected), atol=1e-7)
    paper = static_adjacency(*cooccurrence(LABELS), tau=0.4, p=0.2, convention="paper")
    np.testing.assert_array_equal(paper, static_adjacency(*cooccurrence(LABELS)))  # the default


@pytest.mark.parametrize("convention", ["ml_gcn", "code", "", None, "PAPER"])
def test_static_adjacency_rejects_unknown_convention(convention):
    with pytest.raises(ValueError, match="bad convention .*: choose from") as err:
        static_adjacency(*cooccurrence(LABELS), convention=convention)
    message = str(err.value)
    assert "\n" not in message and all(choice in message for choice in ADJACENCY_CONVENTIONS)
    assert ADJACENCY_CONVENTIONS == ("paper", "ml_gcn_code")


def test_coco_static_prior_in_both_directions():
    stats = coco_label_statistics()
    nums, counts = stats.nums, stats.counts
    person = stats.names.index("person")
    assert person == 49
    # independently: i gathers from j (paper) when counts[i, j] / nums[i] >= 0.4,
    # (code) when counts[j, i] / nums[j] >= 0.4, i.e. P(i | j)
    c = len(nums)
    paper_edges = {(i, j) for i in range(c) for j in range(c) if i != j and counts[i, j] >= 0.4 * nums[i]}
    code_edges = {(i, j) for i in range(c) for j in range(c) if i != j and counts[j, i] >= 0.4 * nums[j]}
    assert code_edges == {(j, i) for i, j in paper_edges}
    for convention, edges in [("paper", paper_edges), ("ml_gcn_code", code_edges)]:
        a = static_adjacency(nums, counts, tau=0.4, p=0.2, convention=convention)
        support = {(int(i), int(j)) for i, j in zip(*np.nonzero(a)) if i != j}
        assert support == edges, convention
        np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-6)
    assert len(paper_edges) == len(code_edges) == 111
    assert sum(i == person for i, _ in paper_edges) == 0  # person gathers from nobody in the paper's
    assert sum(i == person for i, _ in code_edges) == 55  # and from 55 classes in the code's
    code = static_adjacency(nums, counts, tau=0.4, p=0.2, convention="ml_gcn_code")
    np.testing.assert_allclose(code[person, person], 0.8)
    neighbours = [j for i, j in code_edges if i == person]
    np.testing.assert_allclose(code[person, neighbours], 0.2 / 55)
    paper = static_adjacency(nums, counts, tau=0.4, p=0.2)
    assert paper[person, person] == 1.0
    skis = stats.names.index("skis")
    assert paper[skis, person] > 0 and code[person, skis] > 0  # P(person | skis) is high


def test_unseen_pairs_by_hand():
    """Image n counts when one of its other labels never appeared with its focus class in training."""
    train = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1]])
    _, counts = cooccurrence(train)  # pairs seen: (0,1), (1,2), (0,3)
    labels = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1], [0, 0, 1, 0]])
    focus = np.array([0, 2, 3, 2])
    # image 0: 1 seen with 0; image 1: 0 never with 2; image 2: 2 never with 3; image 3: no other label
    np.testing.assert_array_equal(unseen_pairs(labels, counts, focus), [False, True, True, False])
    rng = np.random.default_rng(0)
    labels, focus = rng.integers(0, 2, size=(50, 6)), rng.integers(0, 6, size=50)
    _, counts = cooccurrence(rng.integers(0, 2, size=(8, 6)))
    loop = [any(counts[j, k] == 0 for j in np.flatnonzero(row) if j != k) for row, k in zip(labels, focus)]
    np.testing.assert_array_equal(unseen_pairs(labels, counts, focus), loop)
    with pytest.raises(ValueError, match="focus"):
        unseen_pairs(labels, counts, focus[:3])
