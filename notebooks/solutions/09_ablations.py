"""Solutions to the exercises of notebook 09 · Ablations and results (09_ablations.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
p = probabilities("resnet", "rare", SEEDS[:1])[:, 0]
in_scene = (targets["rare"] > 0.5) & ~rare_mask
answer = {"out_of_scene": 100 * (p[rare_mask] >= 0.3).mean(), "in_scene": 100 * (p[in_scene] >= 0.3).mean()}

# %% Exercise 2
fused = 0.25 * out["s_r"] + 0.75 * out["s_m"]
answer = multilabel_metrics(fused.sigmoid().numpy(), targets["val"])["mAP"]

# %% Exercise 3
p_a, p_d = (probabilities(label, "rare", SEEDS[:1])[:, 0] for label in ("add_gcn", "db_dgcn"))
t = targets["rare"]
wins = [np.nanmean(average_precision(p_a[i], t[i])) > np.nanmean(average_precision(p_d[i], t[i])) for i in R["rare"]]
answer = 100 * np.mean(wins)

# %% Exercise 6
ex_jobs = [{**EX_BASE, **change, "seed": seed} for change in ({}, {"tau": 0.2}) for seed in (0, 1)]
ex_runs = quick_train_many(ex_jobs, predict=("rare",))
ex_metrics = [[out_of_scene_metrics(run.predict("rare")["logits"].sigmoid().numpy(), targets["rare"], rare_mask)
               for run in ex_runs[k:k + 2]] for k in (0, 2)]  # [base, changed][seed]
maps = np.array([[m["out_of_scene_mAP"] for m in side] for side in ex_metrics])
stacked = [np.stack([run.predict("rare")["logits"].sigmoid().numpy() for run in ex_runs[k:k + 2]], axis=1) for k in (0, 2)]


def two_seed_map(s, t, mask):
    return np.mean([out_of_scene_metrics(s[:, k], t, mask)["out_of_scene_mAP"] for k in range(2)])


difference = maps[1].mean() - maps[0].mean()
seed_gap_ex = np.abs(maps[:, 0] - maps[:, 1]).mean()
paired_sd = paired_bootstrap(two_seed_map, (stacked[1], targets["rare"], rare_mask), (stacked[0], targets["rare"], rare_mask),
                             resample_indices(300, BOOTSTRAP, seed=0)).std()
answer = {"difference": difference, "seed_gap": seed_gap_ex, "paired_sd": paired_sd,
          "verdict": noise_verdict(difference, seed_gap_ex, paired_sd)}
print("out-of-scene recall at 0.5 of the four runs:", [round(m["out_of_scene_recall"], 1) for side in ex_metrics for m in side])
print(f"tau 0.2 against 0.4 at smoke size: out-of-scene mAP {maps[1].mean():.1f} vs {maps[0].mean():.1f}: "
      f"{difference:+.1f} points, seed gap {seed_gap_ex:.1f}, paired sd {paired_sd:.2f}: {answer['verdict']}")
