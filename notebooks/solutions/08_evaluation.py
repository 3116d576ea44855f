"""Solutions to the exercises of notebook 08 · Evaluation (08_evaluation.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
# threshold 0.9: 1 predicted, 0 correct -> P 0, R 0
# threshold 0.7: 4 predicted, 2 correct -> P 1/2, R 2/3 (recall gained 2/3)
# threshold 0.4: 5 predicted, 3 correct -> P 3/5, R 1   (recall gained 1/3)
answer = (2 / 3) * (1 / 2) + (1 / 3) * (3 / 5)

# %% Exercise 2
top2 = (np.argsort(np.argsort(-S, axis=1), axis=1) < 2) & (S >= 0.5)
correct = (top2 & (T == 1)).sum()
op, orr = correct / top2.sum(), correct / T.sum()
answer = 100 * 2 * op * orr / (op + orr)

# %% Exercise 3
def best_cf1_threshold(scores, targets, grid):
    """The threshold of ``grid`` with the highest CF1 (the first of equals)."""
    cf1 = [multilabel_metrics(scores, targets, threshold=float(th))["CF1"] for th in grid]
    return grid[int(np.argmax(cf1))]


answer = best_cf1_threshold
print("CF1 peaks at", best_cf1_threshold(probs["val"]["s"], targets["val"], grid), "for s on val")

# %% Exercise 4
if "rare" in probs:
    found = (probs["rare"]["s_m"] >= 0.5) & mask
    with np.errstate(invalid="ignore", divide="ignore"):
        answer = 100 * found.sum(axis=0) / mask.sum(axis=0)  # 0 / 0 = NaN: never out of scene

# %% Exercise 5
THRESHOLD = 0.2
