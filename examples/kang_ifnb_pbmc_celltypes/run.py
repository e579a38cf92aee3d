"""Kang et al. IFN-beta PBMCs: control -> stimulated with GENOT-L and U-GENOT, one cell
type held out at a time (its stimulated cells never seen in training), through the
`genot` command line. Run after `bash setup.sh`:
    .venv/bin/python examples/kang_ifnb_pbmc_celltypes/run.py

For each held-out type T: source = all control cells, target = the stimulated cells of the
other types (50 PCs). T's control cells are pushed through the map (16 samples each, all
used) and compared with T's observed stimulated cells: energy distance in the 50 PCs, and
r^2 (squared Pearson correlation over the 2000 genes) between the predicted and observed
per-gene mean change from T's controls, with genes reconstructed through the PCA loadings.
Baselines: identity, the global mean shift learned on the training cells, and the
barycentric projection of the discrete entropic OT plan (`genot solve`) between the same
source and target. Figures in each out/model-*/: loss.png, and transport.png (T's control
cells, their samples and T's observed stimulated cells, in the leading PCs).
"""

import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from cross_modality import load, run  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
DATASET = "kang_ifnb_pbmc_celltypes"


def mean_of(values):
    return None if None in values else round(float(np.mean(values)), 3)


def main(seed=0):
    work = HERE / "out"
    work.mkdir(exist_ok=True)
    pcs = load(DATASET, "pca50.npy").astype(np.float64)
    loadings = load(DATASET, "pca50_loadings.npy").astype(np.float64)
    obs = load(DATASET, "obs.csv")
    cond = np.array([r["condition"] for r in obs])
    ctype = np.array([r["cell_type"] for r in obs])
    ctrl, stim = cond == "control", cond == "stimulated"
    np.save(work / "source.npy", pcs[ctrl].astype(np.float32))
    genes = lambda z: z @ loadings.T  # noqa: E731  (the PCA mean cancels in mean changes)

    def score(pred, held):
        obs_stim, obs_ctrl = pcs[stim & (ctype == held)], pcs[ctrl & (ctype == held)]
        np.save(work / "p.npy", pred.astype(np.float32))
        np.save(work / "t.npy", obs_stim.astype(np.float32))
        e = run("eval", "--pred", work / "p.npy", "--target", work / "t.npy")
        d_pred = genes(pred.mean(0) - obs_ctrl.mean(0))
        d_obs = genes(obs_stim.mean(0) - obs_ctrl.mean(0))
        # No predicted change (identity): r^2 is undefined.
        r2 = None if not d_pred.any() else round(float(np.corrcoef(d_pred, d_obs)[0, 1] ** 2), 3)
        return {"energy_distance": round(e["energy_distance"], 3), "r2_mean_change": r2}

    results = {}
    for held in sorted(set(ctype)):
        train_t = stim & (ctype != held)
        np.save(work / "target.npy", pcs[train_t].astype(np.float32))
        x = pcs[ctrl & (ctype == held)]
        np.save(work / "x.npy", x.astype(np.float32))
        np.save(work / "held_target.npy", pcs[stim & (ctype == held)].astype(np.float32))
        row = {"identity": score(x, held),
               "mean_shift": score(x + pcs[train_t].mean(0) - pcs[ctrl].mean(0), held)}
        run("solve", "--source", work / "source.npy", "--target", work / "target.npy", "--epsilon", 0.1,
            "--relative-epsilon", "--plan-out", work / "plan.npy", "--f64")
        plan = np.load(work / "plan.npy")[(ctype[ctrl] == held)]
        row["discrete_ot_barycentric"] = score(plan @ pcs[train_t] / plan.sum(1, keepdims=True), held)
        for name, extra in (("genot_l", []), ("u_genot", ["--tau-a", 0.95, "--tau-b", 0.95])):
            model = work / f"model-{name}-{held.replace(' ', '_')}"
            run("fit", "--config", HERE / "config.toml", "--out", model, "--seed", seed, "--plot", *extra)
            run("transport", "--model", model, "--source", work / "x.npy", "--out", work / "y.npy",
                "--samples", 16, "--seed", seed, "--plot", model / "transport.png",
                "--plot-target", work / "held_target.npy")
            y = np.load(work / "y.npy").reshape(-1, pcs.shape[1])
            row[name] = score(y, held)
        results[held] = row
        print(held, json.dumps(row), flush=True)
    methods = list(next(iter(results.values())))
    results["mean over types"] = {
        m: {k: mean_of([results[t][m][k] for t in results]) for k in ("energy_distance", "r2_mean_change")}
        for m in methods
    }
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results["mean over types"], indent=2))


main()
