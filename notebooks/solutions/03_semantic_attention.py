"""Solutions to the exercises of notebook 03 · Semantic attention: one feature vector per class (03_semantic_attention.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
answer = torch.einsum("ck,bkhw->bchw", W, X) + torch.tensor([0.5, -1.0])[None, :, None, None]

# %% Exercise 2
def map_score(maps3, maps4, weight3):
    """Max over positions on each scale, then weight the scales."""
    return weight3 * maps3.amax(dim=(2, 3)) + (1 - weight3) * maps4.amax(dim=(2, 3))


answer = map_score

# %% Exercise 3
sam4 = run.model.head.sam_layer4
with torch.no_grad():
    _, x4_pick = run.model.forward_features(val.images[picks[:1]])
    answer, _ = sam_by_hand(
        x4_pick, sam4.classifier.weight[:, :, 0, 0], sam4.transform.weight[:, :, 0, 0], sam4.transform.bias
    )
