"""Solutions to the exercises of notebook 02 · Backbone and multi-scale features (02_backbone_multiscale.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
def feature_shapes(batch, height, width):
    """ResNet-101: 1024 channels at stride 16, 2048 at stride 32; each stride-2 step rounds up."""
    return (
        (batch, 1024, math.ceil(height / 16), math.ceil(width / 16)),
        (batch, 2048, math.ceil(height / 32), math.ceil(width / 32)),
    )


answer = feature_shapes

# %% Exercise 2
def stage_channels(net):
    """A stage outputs what its last block's last convolution outputs (planes x the block's expansion)."""

    def out_channels(stage):
        convs = [module for name, module in stage[-1].named_children() if name.startswith("conv")]
        return convs[-1].out_channels

    return out_channels(net.layer3), out_channels(net.layer4)


answer = stage_channels

# %% Exercise 3
def walk(layers):
    """(r, j) after (kernel, stride) pairs: r grows by (k - 1) * j at each layer, then j *= stride."""
    r, j = 1, 1
    for kernel, stride in layers:
        r, j = r + (kernel - 1) * j, j * stride
    return r, j


answer = walk
tiny_layers = [(7, 2), (3, 2)] + [(3, 1), (3, 1)] + [(3, 2), (3, 1)] * 3  # stem, layer1, layers 2-4
r, _ = walk(tiny_layers)
side = RUN["image_size"]
print(f"r = {r} px against a {side} px input: one X4 cell {'can' if r >= side else 'cannot'} see the whole image")

# %% Exercise 4
def smaller_than_a_cell(annotations, side, cell):
    """Areas are in the stored image's pixels: at `side` px they grow by (side / stored width) squared."""
    grow = (side / native_width) ** 2
    return sum(1 for a in annotations if a["area"] * grow < cell**2)


answer = smaller_than_a_cell
