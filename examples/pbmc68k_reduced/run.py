"""pbmc68k_reduced (scanpy's 700 PBMCs): view A -> view B with GENOT-Q and GENOT-F
(protocol in ../cross_modality.py). The two views are PCAs of disjoint halves of the genes
of the same cells, a synthetic two-modality setting on real cells.

First, a reader check on the file scanpy ships (written by an old anndata, with obs and
obsm as tables): `genot eval` reads its obsm/X_pca and obs/bulk_labels, and X, and compares
them with the arrays extracted into the shared data folder.

Run from anywhere after `bash setup.sh`:  .venv/bin/python examples/pbmc68k_reduced/run.py"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from cross_modality import DATA, load, main, run  # noqa: E402

here = pathlib.Path(__file__).parent
folder = DATA / "pbmc68k_reduced"
original = folder / "original" / "10x_pbmc68k_reduced.h5ad"
load("pbmc68k_reduced", "obs.csv")  # exits with a clear message when the data is missing
checks = {
    "obsm/X_pca": run("eval", "--pred", f"{original}:obsm/X_pca", "--target", folder / "pca50_pkg.npy",
                      "--paired", "--pred-labels", "obs/bulk_labels",
                      "--target-labels", f"{folder / 'obs.csv'}:bulk_labels", "--knn", 1),
    "X": run("eval", "--pred", original, "--target", folder / "X_scaled.npy", "--paired"),
}
for key, r in checks.items():
    same = r["foscttm"] == 0.0 and r["energy_distance"] == 0.0
    labels = r.get("label_transfer_accuracy", 1.0) == 1.0
    print(f"reader check, {original.name}:{key}: {r['n_pred']} x {r['dim']}, "
          f"identical to the extracted array: {same}" + (f", labels identical: {labels}" if key != "X" else ""))
    if not (same and labels):
        sys.exit(f"the .h5ad reader disagrees with the extracted data on {key}")

main("pbmc68k_reduced", "view_a_pca30.npy", "view_b_pca30.npy", "bulk_labels", here)
