"""Solutions to the exercises of notebook 02 · Backbone and multi-scale features (02_backbone_multiscale.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
# 1024 / 2048 channels; each side is ceil(side / 16) and ceil(side / 32)
answer = (
    (2, 1024, math.ceil(600 / 16), math.ceil(500 / 16)),
    (2, 2048, math.ceil(600 / 32), math.ceil(500 / 32)),
)

# %% Exercise 2
# layer3 and layer4 have 256 and 512 planes; BasicBlock keeps them, Bottleneck multiplies by 4
answer = {"resnet18": (256 * 1, 512 * 1), "resnet50": (256 * 4, 512 * 4)}

# %% Exercise 3
# r grows by (k - 1) * j at each layer, then j *= stride
r, j = 1, 1
for kernel, stride in [(7, 2), (3, 2)] + [(3, 1), (3, 1)] + [(3, 2), (3, 1)] * 3:  # stem, layer1, layers 2-4
    r, j = r + (kernel - 1) * j, j * stride
answer = r
print(f"r = {r} px against a {RUN['image_size']} px input: one X4 cell {'can' if r >= RUN['image_size'] else 'cannot'} see the whole image")

# %% Exercise 4
answer = sum(1 for a in coco_val["annotations"] if a["area"] < (32 / scale) ** 2)
