"""Solutions to the exercises of notebook 04 · Label co-occurrence: the static label graph (04_label_cooccurrence.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
def code_adjacency(nums, counts, tau, p):
    """Transpose the binary graph of P(j | i) >= tau, then re-weight its rows like the paper's."""
    P_ = conditional_probability(nums, counts)
    B = ((P_ >= tau) & ~np.eye(len(P_), dtype=bool)).T
    degree = B.sum(axis=1, keepdims=True)
    A = np.where(B, p / np.maximum(degree, 1), 0.0)
    np.fill_diagonal(A, np.where(degree[:, 0] > 0, 1 - p, 1.0))
    return A


answer = code_adjacency
# the paper's adjacency transposed is wrong: its row i holds column i of the paper's, the weights other rows
# gave to i; they do not sum to 1

# %% Exercise 3
i = names.index("bicycle")
neighbours = (P[i] >= 0.4) & (np.arange(C) != i)
answer = np.where(neighbours, 0.3 / neighbours.sum(), 0.0)
answer[i] = 1 - 0.3 if neighbours.any() else 1.0

# %% Exercise 4
answer = 0
for row, image_id in zip(rare.labels, rare.image_ids):
    k = names.index(entries[image_id]["out_of_scene"][0])
    answer += any(counts[j, k] == 0 for j in np.flatnonzero(row) if j != k)
