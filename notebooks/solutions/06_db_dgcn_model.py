"""Solutions to the exercises of notebook 06 · The DB-DGCN model (06_db_dgcn_model.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
small = {r["name"]: r for r in parameter_table("resnet101", num_classes=80, embed_dim=512)}
answer = small["db_dgcn"]["head"] / table["db_dgcn"]["head"]

# %% Exercise 2
s_07 = 0.7 * out["s_r"] + 0.3 * out["s_m"]
answer = 0.3 * (torch.sigmoid(s_07) - targets) / targets.numel()  # d BCE / d s = (sigma(s) - y) / (B C), times ds/ds_m

# %% Exercise 3
def summed_bce(logits, targets):
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / len(targets)


answer = train_briefly(summed_bce)
