"""Solutions to the exercises of notebook 09 · Ablations and results (09_ablations.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
p = probabilities("resnet", "rare", [0])[:, 0]
t = targets["rare"] > 0.5
in_scene, absent = t & ~rare_mask, ~t
answer = {
    "out_of_scene": 100 * (p[rare_mask] >= 0.3).mean(),
    "in_scene": 100 * (p[in_scene] >= 0.3).mean(),
    "absent": 100 * (p[absent] >= 0.3).mean(),
}

# %% Exercise 2
fused = 0.25 * out["s_r"] + 0.75 * out["s_m"]
answer = multilabel_metrics(fused.sigmoid().numpy(), targets["val"])["mAP"]

# %% Exercise 3
p_a, p_d = (probabilities(label, "rare", [0])[:, 0] for label in ("add_gcn", "db_dgcn"))
t = targets["rare"]
wins = [np.nanmean(average_precision(p_a[i], t[i])) > np.nanmean(average_precision(p_d[i], t[i])) for i in R["rare"]]
answer = 100 * np.mean(wins)

# %% Exercise 6
ex_jobs = [{**EX_BASE, **change, "seed": seed} for change in ({}, {"tau": 0.2}) for seed in (0, 1)]
started = time.perf_counter()
ex_runs = quick_train_many(ex_jobs, predict=("rare",))
print(f"four runs (trained, or loaded from the run cache) in {time.perf_counter() - started:.0f} s")
t = targets["rare"]
stacked = [np.stack([run.predict("rare")["logits"].sigmoid().numpy() for run in ex_runs[k:k + 2]], axis=1) for k in (0, 2)]


def per_seed_oos(s, t, mask):
    return [out_of_scene_metrics(s[:, k], t, mask) for k in range(s.shape[1])]


def two_seed_map(s, t, mask):
    return np.mean([m["out_of_scene_mAP"] for m in per_seed_oos(s, t, mask)])


base, changed = (per_seed_oos(s, t, rare_mask) for s in stacked)
print("out-of-scene recall at 0.5 of the four runs:", [round(m["out_of_scene_recall"], 1) for m in base + changed])
maps_base, maps_changed = [m["out_of_scene_mAP"] for m in base], [m["out_of_scene_mAP"] for m in changed]
paired = paired_bootstrap(two_seed_map, (stacked[1], t, rare_mask), (stacked[0], t, rare_mask),
                          resample_indices(len(t), BOOTSTRAP, seed=0))
comparison = noise_comparison(maps_changed, maps_base, paired, spread=seed_spread(maps_changed, maps_base))
answer = {"difference": comparison.difference, "detectable": comparison.detectable, "verdict": comparison.verdict}
print(f"tau 0.2 against 0.4 at smoke size, out-of-scene mAP {np.mean(maps_changed):.1f} vs {np.mean(maps_base):.1f}: "
      f"{detectable_phrase(comparison.detectable)}; it measures {comparison.difference:+.1f}: {comparison.verdict}")
