"""Solutions to the exercises of notebook 00 · Introduction and setup (00_introduction.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
s, y = torch.tensor([1.0, -2.0, 0.0]), torch.tensor([1.0, 0.0, 1.0])
p = 1 / (1 + torch.exp(-s))
answer = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()

# %% Exercise 2
mouse, keyboard = categories.index("mouse"), categories.index("keyboard")
answer = int(((train.labels[:, mouse] == 1) & (train.labels[:, keyboard] == 1)).sum())

# %% Exercise 3
# P(stone | tree) = P(stone and tree) / P(tree); given the scene the two are independent,
# so P(stone and tree) = sum_s pi_s q_s,stone q_s,tree and P(tree) = sum_s pi_s q_s,tree
joint = sum(s.probability * s.objects.get("stone", 0.0) * s.objects.get("tree", 0.0) for s in SCENES)
answer = joint / sum(s.probability * s.objects.get("tree", 0.0) for s in SCENES)
tree, stone = categories.index("tree"), categories.index("stone")
print(f"designed {answer:.3f}, counted in train {pair_counts[tree, stone] / nums[tree]:.3f}")
