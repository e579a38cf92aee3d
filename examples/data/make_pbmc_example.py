"""Makes examples/data/pbmc.h5ad, the small PBMC-like AnnData file that the README's
AnnData commands run on (run from the repository root, with anndata installed, as in the
.venv of setup.sh):
    .venv/bin/python examples/data/make_pbmc_example.py

240 cells, 3 cell types (B, Mono, T; 40 control and 40 stimulated each), 10 "PCs" in
obsm/X_pca. The stimulated cells of each type are its controls shifted along a type-specific
response direction, so a conditional model has something to learn. obs holds condition
(control, stimulated) and cell_type. X is 240 x 20 counts-like values. float32, seed 0.
Synthetic: it is not real PBMC data (../shared/data/kang_ifnb_pbmc* are).
"""
import os

import anndata as ad
import numpy as np
import pandas as pd

rng = np.random.default_rng(0)
here = os.path.dirname(os.path.abspath(__file__))
types, per, dims = ["B", "Mono", "T"], 40, 10
pcs, cond, ctype = [], [], []
for t, name in enumerate(types):
    centre = rng.normal(scale=3.0, size=dims)
    response = rng.normal(scale=1.5, size=dims)
    for c in ("control", "stimulated"):
        x = centre + rng.normal(scale=0.5, size=(per, dims))
        if c == "stimulated":
            x = x + response
        pcs.append(x)
        cond += [c] * per
        ctype += [name] * per
pcs = np.concatenate(pcs).astype(np.float32)
counts = rng.poisson(2.0, size=(pcs.shape[0], 20)).astype(np.float32)
obs = pd.DataFrame({"condition": pd.Categorical(cond), "cell_type": pd.Categorical(ctype)},
                   index=[f"cell{i}" for i in range(pcs.shape[0])])
adata = ad.AnnData(X=counts, obs=obs, obsm={"X_pca": pcs})
adata.write_h5ad(os.path.join(here, "pbmc.h5ad"))
print("wrote", adata)
