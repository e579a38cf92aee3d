"""krumsiek11 (simulated myeloid differentiation): time bin k -> bin k + 1 with GENOT-L
through the `genot` command line. Run after `bash setup.sh`:
    .venv/bin/python examples/krumsiek11_sim/run.py

The 4 realizations are pooled and time_step binned into 4 bins of 40 steps (160 cells
each); GENOT-L maps bin k to bin k + 1 (k = 0, 1, 2). Every cell of bin k gets 8 samples;
each sample takes the cell type of its 5 nearest observed cells of bin k + 1 (majority).
Reported: the fate composition of the samples against the observed composition of bin
k + 1 (total variation distance, 0 is a perfect match), and how often a sample keeps the
fate of its own realization (realization r ends in one fate; chance is about 0.25 once the
fates have split). Baseline: the barycentric projection of the discrete entropic OT plan
between the two bins (`genot solve`), labelled the same way. Figures: out/model-bin*/loss.png
and out/transport-bin*.png (the samples coloured by the fate of their source cell's
realization, the observed bin k + 1 as rings).
"""

import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from cross_modality import load, run  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
FATES = {0: "Mo", 1: "Ery", 2: "Mk", 3: "Neu"}


def knn_labels(points, ref, ref_labels, k=5):
    d = ((points[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(d, axis=1)[:, :k]
    out = []
    for row in nearest:
        names, counts = np.unique(ref_labels[row], return_counts=True)
        out.append(names[np.argmax(counts)])
    return np.array(out)


def summary(pred_labels, realization, observed):
    kinds = sorted(set(observed) | set(pred_labels))
    comp = {c: float(np.mean(pred_labels == c)) for c in kinds}
    obs = {c: float(np.mean(observed == c)) for c in kinds}
    tv = 0.5 * sum(abs(comp[c] - obs[c]) for c in kinds)
    fate = np.array([FATES[r] for r in realization])
    keeps = float(np.mean(pred_labels == fate))
    return {"composition": {c: round(v, 3) for c, v in comp.items()}, "tv_to_observed": round(tv, 3),
            "keeps_own_fate": round(keeps, 3)}


def main(seed=0, samples=8):
    work = HERE / "out"
    work.mkdir(exist_ok=True)
    x = load("krumsiek11_sim", "X.npy").astype(np.float64)
    obs = load("krumsiek11_sim", "obs.csv")
    step = np.array([int(r["time_step"]) for r in obs])
    real = np.array([int(r["realization"]) for r in obs])
    ctype = np.array([r["cell_type"] for r in obs])
    bins = step // 40
    results = {}
    for k in range(3):
        src, tgt = bins == k, bins == k + 1
        np.save(work / "source.npy", x[src].astype(np.float32))
        np.save(work / "target.npy", x[tgt].astype(np.float32))
        observed = {c: round(float(np.mean(ctype[tgt] == c)), 3) for c in sorted(set(ctype[tgt]))}
        model = work / f"model-bin{k}"
        run("fit", "--config", HERE / "config.toml", "--out", model, "--seed", seed, "--plot")
        run("transport", "--model", model, "--source", work / "source.npy", "--out", work / "y.npy",
            "--samples", samples, "--seed", seed)
        # Coloured by the fate that each source cell's realization ends in.
        labels = work / "source_lineage.csv"
        labels.write_text("lineage\n" + "\n".join(f"{FATES[r]} lineage" for r in real[src]) + "\n")
        run("plot", "--source", work / "source.npy", "--pred", work / "y.npy", "--target", work / "target.npy",
            "--color", labels, "--out", work / f"transport-bin{k}.png")
        y = np.load(work / "y.npy").reshape(-1, x.shape[1])
        r_rep = np.repeat(real[src], samples)
        genot = summary(knn_labels(y, x[tgt], ctype[tgt]), r_rep, ctype[tgt])
        run("solve", "--source", work / "source.npy", "--target", work / "target.npy", "--epsilon", 0.1,
            "--relative-epsilon", "--plan-out", work / "plan.npy", "--f64")
        plan = np.load(work / "plan.npy")
        bary = plan @ x[tgt] / plan.sum(1, keepdims=True)
        ot = summary(knn_labels(bary, x[tgt], ctype[tgt]), real[src], ctype[tgt])
        results[f"bin {k} -> {k + 1}"] = {"observed": observed, "genot_l": genot, "discrete_ot_barycentric": ot}
        print(f"bin {k} -> {k + 1}", json.dumps(results[f"bin {k} -> {k + 1}"]), flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2))


main()
