"""Solutions to the exercises of notebook 01 · Residual blocks (01_residual_blocks.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
convs = 1 * 1 * 512 * 256 + 3 * 3 * 256 * 256 + 1 * 1 * 256 * 1024  # reduce, 3x3 (strided), expand
norms = 2 * (256 + 256 + 1024)
shortcut = 1 * 1 * 512 * 1024 + 2 * 1024  # the downsample: 1x1 convolution and its batch norm
answer = convs + norms + shortcut

# %% Exercise 3
# F(x) = bn2(...) = 0, so y = relu(0 + x)
answer = torch.relu(x_ex)

# %% Exercise 4
def rescued_stack(seed):
    torch.manual_seed(seed)
    model = Stack(LAYERS, residual=False)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


answer = rescued_stack
