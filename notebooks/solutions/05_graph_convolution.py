"""Solutions to the exercises of notebook 05 · Graph convolution, static and dynamic (05_graph_convolution.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
A_p02 = torch.tensor([[0.8, 0.1, 0.1, 0.0], [0.2, 0.8, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.2, 0.8]])
answer = leaky(A_p02 @ H_toy @ W_toy)

# %% Exercise 2
gcn = run.model.head.gcn
with torch.no_grad():
    V0 = out_rare["category_features"][:1].clone()
    V0[:, :, intruders[0]] = 0  # the SAM saw nothing of the intruder
    H0 = V0 + gcn.static(V0)
    answer = dynamic_gcn_by_hand(H0, gcn.dynamic)[1][0]

# %% Exercise 3
with torch.no_grad():
    V01 = out_rare["category_features"][:2]
    H01 = V01 + run.model.head.gcn.static(V01)
    g0, g1 = global_vector(H01, run.model.head.gcn.dynamic)
    own = graph_logits(g0[None], H01[:1], run.model.head.gcn.dynamic)[0]
    swapped = graph_logits(g1[None], H01[:1], run.model.head.gcn.dynamic)[0]
answer = swapped - own

# %% Exercise 4
class DynamicGCNWithoutGlobal(DynamicGCN):
    """A D-GCN whose graph reads only the nodes: A_d = sigmoid(W_A H), no global vector g."""

    def __init__(self, dim, num_nodes):
        super().__init__(dim, num_nodes)
        self.adjacency_conv = nn.Conv1d(dim, num_nodes, kernel_size=1)  # D channels in, not 2D

    def build_graph(self, h):
        return torch.sigmoid(self.adjacency_conv(h)).transpose(1, 2)


def remove_global(model):
    gcn = model.head.gcn
    dim, num_nodes = gcn.dynamic.weight.in_channels, gcn.dynamic.adjacency_conv.out_channels
    gcn.dynamic = DynamicGCNWithoutGlobal(dim, num_nodes)
    gcn.aux = DynamicGCNWithoutGlobal(dim, num_nodes)


answer = retrain(edit=remove_global)
