"""AnnData helpers behind `GENOT.fit_anndata` and `GENOT.transport_anndata` (anndata is
optional: ``pip install anndata``)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ._checks import as_labels, as_points


def representation(adata: Any, key: str, what: str) -> np.ndarray:
    """The matrix ``key`` of ``adata``: ``"X"``, ``"obsm/NAME"`` (or ``"NAME"`` in obsm),
    ``"layers/NAME"``; dense or sparse."""
    if not hasattr(adata, "obsm") or not hasattr(adata, "obs"):
        raise TypeError(f"{what} must be an AnnData object, got {type(adata).__name__}")
    if key == "X":
        m = adata.X
    elif key.startswith("layers/"):
        name = key[len("layers/"):]
        if name not in adata.layers:
            raise ValueError(f"{what}: no layer {name!r} (layers: {', '.join(adata.layers.keys()) or 'none'})")
        m = adata.layers[name]
    else:
        name = key[len("obsm/"):] if key.startswith("obsm/") else key
        if name not in adata.obsm:
            raise ValueError(f"{what}: no obsm {name!r} (obsm: {', '.join(adata.obsm.keys()) or 'none'}; "
                             "use 'X' or 'layers/NAME' for the others)")
        m = adata.obsm[name]
    if m is None:
        raise ValueError(f"{what}: {key} is empty")
    return as_points(m, f"{what}[{key}]")


def obs_labels(adata: Any, column: str, what: str) -> list:
    if column not in adata.obs.columns:
        raise ValueError(f"{what}: no obs column {column!r} (columns: {', '.join(map(str, adata.obs.columns))})")
    return as_labels(adata.obs[column], f"{what}.obs[{column!r}]", adata.n_obs)


def fit_kwargs_from(source: Any, target: Any, key: str, target_key: Optional[str],
                    condition_key: Optional[str], shared_key: Optional[str],
                    target_shared_key: Optional[str]) -> dict:
    kw: dict = {
        "source": representation(source, key, "source"),
        "target": representation(target, target_key or key, "target"),
    }
    if condition_key is not None:
        kw["source_conditions"] = obs_labels(source, condition_key, "source")
        kw["target_conditions"] = obs_labels(target, condition_key, "target")
    if shared_key is not None:
        kw["source_shared"] = representation(source, shared_key, "source")
        kw["target_shared"] = representation(target, target_shared_key or shared_key, "target")
    return kw


def store_predictions(model: Any, adata: Any, key: str, key_added: str,
                      condition_key: Optional[str], shared_key: Optional[str],
                      n_samples: int, kwargs: dict) -> Any:
    x = representation(adata, key, "adata")
    conditions = None if condition_key is None else obs_labels(adata, condition_key, "adata")
    shared = None if shared_key is None else representation(adata, shared_key, "adata")
    weights = model.is_unbalanced
    many = n_samples > 1
    out = model.transport(x, n_samples, conditions, source_shared=shared, return_mean=True,
                          return_weights=weights, return_uncertainty=many, **kwargs)
    samples, mean = out[0], out[1]
    # As `genot transport --out COPY.h5ad`: one sample, or the mean of K with all K and
    # their spread (the uncertainty needs K >= 2).
    if many:
        adata.obsm[key_added] = mean
        adata.obsm[key_added + "_samples"] = samples
        adata.obs[key_added + "_uncertainty"] = out[-1]
    else:
        adata.obsm[key_added] = samples
    if weights:
        adata.obs[key_added + "_weight"] = out[2]
    return adata
