"""Solutions to the exercises of notebook 10 · Robustness (10_robustness.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
p = probabilities("db_dgcn", "val", [0])[:, 0]
holds = targets["val"] > 0.5
exclusive_aps = []
pairs_here = biased_pairs(*cooccurrence(base_train.labels), names, top=None, min_probability=0.5)
for pair in pairs_here:
    b, c = pair.object_index, pair.context_index
    exclusive = holds[:, b] & ~holds[:, c]  # b without its context
    kept = exclusive | ~holds[:, b]  # the exclusive images and the images without b
    if exclusive.any():
        ap = average_precision(p[kept][:, [b]], exclusive[kept][:, None].astype(np.float32))[0]
        exclusive_aps.append(100 * ap)
answer = float(np.mean(exclusive_aps))
cooccur_map = exclusive_cooccur_metrics(p, targets["val"], pairs_here)["cooccur_mAP"]
print(f"exclusive mAP {answer:.1f} against co-occur mAP {cooccur_map:.1f} over {len(exclusive_aps)} pairs")

# %% Exercise 4
plain_copy = ensure_synthetic(swap=BackgroundSwap(0.5, kind="plain"))  # half the training images on grey
ex_jobs = [{**EX_BASE, "seed": 0}, {**EX_BASE, "seed": 0, "root": plain_copy}]
started = time.perf_counter()
ex_runs = quick_train_many(ex_jobs, predict=("val", "plain"))
print(f"two runs (trained, or loaded from the run cache) in {time.perf_counter() - started:.0f} s")


def val_minus_plain(run):
    t = targets["val"]
    val_map = np.nanmean(average_precision(run.predict("val")["logits"].sigmoid().numpy(), t))
    plain_map = np.nanmean(average_precision(run.predict("plain")["logits"].sigmoid().numpy(), t))
    return 100 * (val_map - plain_map)


answer = {"default": val_minus_plain(ex_runs[0]), "plain share": val_minus_plain(ex_runs[1])}
print({key: round(value, 1) for key, value in answer.items()})
