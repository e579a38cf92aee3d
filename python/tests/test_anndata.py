"""AnnData in, predictions written into obsm."""

import numpy as np
import pytest

import genot
from conftest import SMALL, cloud

anndata = pytest.importorskip("anndata")
sparse = pytest.importorskip("scipy.sparse")


def cells(n, shift, seed):
    pcs = cloud(n, 2, shift=shift, seed=seed)
    ad = anndata.AnnData(X=sparse.csr_matrix(np.abs(cloud(n, 5, seed=seed + 10))))
    ad.obsm["X_pca"] = pcs
    ad.layers["counts"] = np.asarray(ad.X.todense())
    ad.obs["condition"] = np.where(np.arange(n) % 2 == 0, "a", "b")
    return ad


def test_fit_and_transport_anndata():
    ctrl, stim = cells(200, 0.0, 0), cells(200, 3.0, 1)
    model = genot.GENOT(**SMALL).fit_anndata(ctrl, stim, key="X_pca", iterations=300, progress=False)
    direct = model.transport(ctrl.obsm["X_pca"], seed=5)
    assert model.transport_anndata(ctrl, key="obsm/X_pca", key_added="X_pred", seed=5) is None
    assert np.array_equal(ctrl.obsm["X_pred"], direct)
    assert "X_pred_uncertainty" not in ctrl.obs, "one sample has no spread"
    assert (ctrl.obsm["X_pred"] - ctrl.obsm["X_pca"])[:, 0].mean() > 2.0
    model.transport_anndata(ctrl, key="X_pca", key_added="X_k", n_samples=4)
    assert ctrl.obsm["X_k"].shape == (200, 2) and ctrl.obsm["X_k_samples"].shape == (200, 4, 2)
    assert ctrl.obs["X_k_uncertainty"].shape == (200,)
    # copy=True: a new AnnData, the input untouched (scanpy's convention).
    new = model.transport_anndata(ctrl, key="X_pca", key_added="X_c", seed=5, copy=True)
    assert new is not ctrl and "X_c" not in ctrl.obsm
    assert np.array_equal(new.obsm["X_c"], direct)


def test_sparse_x_layers_and_conditions():
    ctrl, stim = cells(120, 0.0, 0), cells(120, 1.0, 1)
    m = genot.GENOT(**SMALL).fit_anndata(ctrl, stim, key="X", condition_key="condition", iterations=20,
                                         batch_size=32, progress=False)
    assert m.config["conditions"] == ["a", "b"] and m.config["source_dim"] == 5
    m.transport_anndata(ctrl, key="layers/counts", condition_key="condition", key_added="X_gene")
    assert ctrl.obsm["X_gene"].shape == (120, 5)


def test_anndata_errors_name_the_key():
    ctrl, stim = cells(50, 0.0, 0), cells(50, 1.0, 1)
    model = genot.GENOT(**SMALL)
    with pytest.raises(ValueError, match="no obsm 'X_umap'.*X_pca"):
        model.fit_anndata(ctrl, stim, key="X_umap")
    with pytest.raises(ValueError, match="no layer 'raw'"):
        model.fit_anndata(ctrl, stim, key="layers/raw")
    with pytest.raises(ValueError, match="no obs column 'batch'"):
        model.fit_anndata(ctrl, stim, condition_key="batch")
    with pytest.raises(TypeError, match="AnnData"):
        model.fit_anndata(np.zeros((3, 2)), stim)
