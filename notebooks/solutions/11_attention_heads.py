"""Solutions to the exercises of notebook 11 · Attention heads (11_attention_heads.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""


# %% Exercise 1
def first_layer_graph(model):
    """The first decoder layer's query self-attention (C, C), averaged over the heads, from the weights."""
    Q = model.head.queries.weight[None]  # (1, C, D): the queries enter layer 1 unchanged, for every image
    _, weights = attention(model.head.layers[0].self_attn, Q, Q, Q)  # (1, heads, C, C)
    return weights[0].mean(0)


answer = first_layer_graph


# %% Exercise 2
def query_head_parameters(C, D, F, L, E, self_attention, c4):
    """Parameters of a LabelQueryHead on layer4 (see the exercise for the symbols)."""
    attention_block = 4 * D * D + 4 * D  # stacked input projections 3D x D + 3D, output projection D x D + D
    feed_forward_block = 2 * D * F + F + D  # D -> F -> D, with biases
    norm = 2 * D  # LayerNorm: a scale and a shift per channel
    encoder_layer = attention_block + feed_forward_block + 2 * norm
    decoder_layer = (
        attention_block + feed_forward_block + 2 * norm + self_attention * (attention_block + norm)
    )
    projection, queries, classifier = c4 * D + D, C * D, C * D + C
    return projection + queries + E * encoder_layer + L * decoder_layer + classifier


answer = query_head_parameters

# %% Exercise 5
ex_jobs = [
    {**EX_BASE, **change, "seed": seed} for change in ({}, {"self_attention": False}) for seed in (0, 1)
]
ex_runs = quick_train_many(ex_jobs, predict=("val",))
t = targets["val"]
p_with, p_without = (
    np.stack([run.predict("val")["logits"].sigmoid().numpy() for run in ex_runs[k : k + 2]], axis=1)
    for k in (0, 2)
)


def two_seed_map(p, t):
    return np.mean([mean_average_precision(p[:, k], t) for k in range(p.shape[1])])


with_seeds = [mean_average_precision(p_with[:, k], t) for k in range(2)]
without_seeds = [mean_average_precision(p_without[:, k], t) for k in range(2)]
paired = bootstrap(two_seed_map, p_without, t, resamples=resamples["val"]) - bootstrap(
    two_seed_map, p_with, t, resamples=resamples["val"]
)
c = noise_comparison(without_seeds, with_seeds, paired, spread=seed_spread(without_seeds, with_seeds))
answer = {"difference": c.difference, "detectable": c.detectable, "verdict": c.verdict}
print(
    f"q2l without self-attention minus with, val mAP at smoke size: {detectable_phrase(c.detectable)}; "
    f"the difference is {c.difference:+.1f}: {c.verdict}"
)
