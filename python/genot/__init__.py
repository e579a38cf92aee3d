"""genot: generative entropic neural optimal transport (GENOT), in Rust.

Learns stochastic maps between two point clouds: within one space (``kind="linear"``),
across spaces of different dimension (``"quadratic"``, Gromov-Wasserstein) or both
(``"fused"``), balanced or unbalanced (U-GENOT, ``tau_a``/``tau_b`` < 1), with or without
condition labels. Models are the same files as the ``genot`` command line's: a model saved
here loads there and the other way round.

>>> import numpy as np, genot
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(256, 2)).astype(np.float32)
>>> y = x + 4.0
>>> model = genot.GENOT(hidden=32, layers=2, lr=1e-3, seed=0).fit(x, y, iterations=300, progress=False)
>>> model.transport(x[:5]).shape
(5, 2)

Submodules: :mod:`genot.ot` (discrete Sinkhorn and Gromov-Wasserstein solvers) and
:mod:`genot.metrics` (Sinkhorn divergence, energy distance, MMD, FOSCTTM, label transfer).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Callable, Optional, Union

import numpy as np

from . import _genot, metrics, ot
from ._checks import as_labels, as_points, choice, flag, integer, number, text
from ._progress import progress_bar

__all__ = ["GENOT", "ot", "metrics", "__version__"]


def __dir__() -> list:
    """The public names only (``dir(genot)``), not the modules this file imports."""
    return sorted(__all__)
__version__: str = _genot.__version__

# The settings' defaults and choices come from the one schema (Rust's FitSettings), which
# the CLI's `genot fit` flags are derived from too.
_DEFAULTS: dict = json.loads(_genot.default_settings())
_TRANSPORT: dict = json.loads(_genot.default_transport_settings())
_CHOICES: dict = json.loads(_genot.setting_choices())
KINDS = tuple(_CHOICES["kind"])
SOLVERS = tuple(_CHOICES["solver"])
PathLike = Union[str, "os.PathLike[str]"]
# Settings that are arguments of `fit`, not of the constructor.
FIT_ARGUMENTS = ("iterations", "batch_size", "ot_batch_size", "ot_plan_reuse", "checkpoint_every")


class GENOT:
    """A GENOT model: configure, then :meth:`fit`, :meth:`transport`, :meth:`save`.

    Parameters (the CLI's ``genot fit`` flags, with the same defaults):

    - ``kind``: ``"linear"`` (source and target in one space, coupled by entropic OT on
      ``cost``), ``"quadratic"`` (GW on the intra-space costs; any dimensions) or
      ``"fused"`` (GW plus a squared-Euclidean cost between shared features).
    - ``cost``: ``"sqeuclidean"``, ``"euclidean"``, ``"pnorm:P"``, ``"cosine"`` or
      ``"graph:K"`` (geodesic on the K-nearest-neighbour graph).
    - ``epsilon``: entropic regularisation on the scaled cost (default 0.1 linear, 0.01 GW);
      ``relative_epsilon=True`` reads it as a factor of each batch's mean cost.
    - ``scale_cost``: ``"mean"``, ``"median"``, ``"max"``, ``"none"`` or a number.
    - ``tau_a``, ``tau_b``: marginal relaxations in (0, 1]; below 1 trains U-GENOT.
    - ``hidden``, ``layers``, ``time_frequencies``: the velocity field's size.
    - ``k_samples`` (with ``latent_matching``), ``joint``, ``fused_penalty``,
      ``warmup_iterations``: matching options (see the README).
    - ``sinkhorn_max_iterations``, ``sinkhorn_threshold``, ``gw_max_iterations``,
      ``gw_threshold``: limits of each batch coupling's solve. A batch that reaches its
      iteration limit is trained on as it stands; :meth:`fit` warns once and
      ``unconverged_batches`` lists those iterations.
    - ``orientation``: GW only, ``"pushforward"`` (the warm-up batch's plan in the
      orientation of lowest GW objective among 8 candidate batches, then every solve from
      the model's image) or ``"none"`` (every batch from the product init, as OTT).
    - ``lr``, ``weight_decay``, ``ema``, ``grad_clip``: AdamW and its extras. ``ema``
      (default 0.999) is the decay of the moving average of the weights that the model
      keeps, warmed up over the run; ``None`` or ``0`` keeps the last weights.
    - ``lr_schedule``: ``"constant"`` (the default) or ``"cosine"`` (half a cosine from
      ``lr`` down to 0 at the last of :meth:`fit`'s ``iterations``).
    - ``normalize``: scaling of the network's input and output, ``"isotropic"`` (the
      default: centred, one scale per side), ``"per-feature"`` (mean 0, std 1 per
      feature) or ``"none"``.
    - ``seed``: one seed for weights, batches, noise; the same seed gives the same model
      as ``genot fit --seed`` on the same machine.
    - ``engine``: ``"native"`` (hand-written CPU kernels, the fastest) or ``"burn"``.
    """

    def __init__(
        self,
        kind: str = _DEFAULTS["kind"],
        *,
        cost: str = _DEFAULTS["cost"],
        epsilon: Optional[float] = _DEFAULTS["epsilon"],
        relative_epsilon: bool = _DEFAULTS["relative_epsilon"],
        scale_cost: Union[str, float] = _DEFAULTS["scale_cost"],
        tau_a: float = _DEFAULTS["tau_a"],
        tau_b: float = _DEFAULTS["tau_b"],
        hidden: int = _DEFAULTS["hidden"],
        layers: int = _DEFAULTS["layers"],
        time_frequencies: int = _DEFAULTS["time_frequencies"],
        k_samples: int = _DEFAULTS["k_samples"],
        latent_matching: bool = _DEFAULTS["latent_matching"],
        joint: bool = _DEFAULTS["joint"],
        fused_penalty: float = _DEFAULTS["fused_penalty"],
        warmup_iterations: int = _DEFAULTS["warmup_iterations"],
        sinkhorn_max_iterations: int = _DEFAULTS["sinkhorn_max_iterations"],
        sinkhorn_threshold: float = _DEFAULTS["sinkhorn_threshold"],
        gw_max_iterations: int = _DEFAULTS["gw_max_iterations"],
        gw_threshold: float = _DEFAULTS["gw_threshold"],
        orientation: str = _DEFAULTS["orientation"],
        lr: float = _DEFAULTS["lr"],
        lr_schedule: str = _DEFAULTS["lr_schedule"],
        weight_decay: float = _DEFAULTS["weight_decay"],
        ema: Optional[float] = _DEFAULTS["ema"],
        grad_clip: Optional[float] = _DEFAULTS["grad_clip"],
        normalize: str = _DEFAULTS["normalize"],
        seed: int = _DEFAULTS["seed"],
        engine: str = _DEFAULTS["engine"],
    ):
        if not isinstance(scale_cost, str):
            scale_cost = repr(number(scale_cost, "scale_cost", positive=True))
        self.settings: dict = {
            "kind": choice(kind, "kind", KINDS),
            "cost": text(cost, "cost"),
            "epsilon": number(epsilon, "epsilon", positive=True, optional=True),
            "relative_epsilon": flag(relative_epsilon, "relative_epsilon"),
            "scale_cost": scale_cost,
            "tau_a": number(tau_a, "tau_a"),
            "tau_b": number(tau_b, "tau_b"),
            "hidden": integer(hidden, "hidden", minimum=1),
            "layers": integer(layers, "layers", minimum=1),
            "time_frequencies": integer(time_frequencies, "time_frequencies", minimum=1),
            "k_samples": integer(k_samples, "k_samples", minimum=1),
            "latent_matching": flag(latent_matching, "latent_matching"),
            "joint": flag(joint, "joint"),
            "fused_penalty": number(fused_penalty, "fused_penalty", positive=True),
            "warmup_iterations": integer(warmup_iterations, "warmup_iterations"),
            "sinkhorn_max_iterations": integer(sinkhorn_max_iterations, "sinkhorn_max_iterations", minimum=1),
            "sinkhorn_threshold": number(sinkhorn_threshold, "sinkhorn_threshold", positive=True),
            "gw_max_iterations": integer(gw_max_iterations, "gw_max_iterations", minimum=1),
            "gw_threshold": number(gw_threshold, "gw_threshold", positive=True),
            "orientation": choice(orientation, "orientation", _CHOICES["orientation"]),
            "lr": number(lr, "lr", positive=True),
            "lr_schedule": choice(lr_schedule, "lr_schedule", _CHOICES["lr_schedule"]),
            "weight_decay": number(weight_decay, "weight_decay"),
            "ema": number(ema, "ema", optional=True),
            "grad_clip": number(grad_clip, "grad_clip", positive=True, optional=True),
            "normalize": choice(normalize, "normalize", _CHOICES["normalize"]),
            "seed": integer(seed, "seed"),
            "engine": choice(engine, "engine", _CHOICES["engine"]),
        }
        # The ranges and cross-setting rules, checked by the same code as `genot fit`'s.
        _genot.validate_settings(json.dumps(self.settings))
        self._model: Optional[_genot.Model] = None

    def __repr__(self) -> str:
        s = self.settings
        state = "fitted" if self._model is not None else "not fitted"
        return f"GENOT(kind={s['kind']!r}, cost={s['cost']!r}, hidden={s['hidden']}, layers={s['layers']}, seed={s['seed']}; {state})"

    # ------------------------------------------------------------------ training
    def fit(
        self,
        source: Any,
        target: Any,
        *,
        source_shared: Any = None,
        target_shared: Any = None,
        source_conditions: Any = None,
        target_conditions: Any = None,
        iterations: int = _DEFAULTS["iterations"],
        batch_size: int = _DEFAULTS["batch_size"],
        ot_batch_size: Optional[int] = _DEFAULTS["ot_batch_size"],
        ot_plan_reuse: Optional[int] = _DEFAULTS["ot_plan_reuse"],
        progress: Union[bool, Callable[[int, int, float], None]] = True,
        checkpoint_dir: Optional[PathLike] = None,
        checkpoint_every: int = _DEFAULTS["checkpoint_every"],
        resume: bool = False,
    ) -> "GENOT":
        """Trains on ``source`` (n x p) and ``target`` (m x q) and returns ``self``.

        - ``source_shared``/``target_shared``: the shared features of a fused problem (n
          and m rows, same width).
        - ``source_conditions``/``target_conditions``: one label per row (list, array or
          pandas Series); each batch is drawn within one label.
        - ``ot_batch_size``: points of each side that each coupling is solved on (default
          ``4 * batch_size`` for linear couplings, at most the points there are and 8192;
          ``batch_size`` for GW); the network's
          ``batch_size`` sources are drawn from that larger
          plan, which shrinks the coupling's minibatch bias. Linear couplings above 8192
          points are solved online (costs recomputed, memory O(M d), slower).
        - ``ot_plan_reuse``: iterations that draw their pairs from one plan (default
          ``ot_batch_size // batch_size``: every source of a balanced plan is used once, in
          disjoint random windows, so a large coupling costs one solve per that many
          iterations; unbalanced and joint draws pick from the whole plan by mass); ``1``
          solves a fresh plan every iteration.
        - ``progress``: ``True`` shows a bar (tqdm when installed), ``False`` nothing, a
          callable is called as ``progress(iteration, iterations, loss)``.
        - ``checkpoint_dir``: write ``checkpoint/`` there every ``checkpoint_every``
          iterations and when interrupted; ``resume=True`` continues from it.

        The GIL is released while training. Ctrl-C stops training and raises
        ``KeyboardInterrupt``; the model keeps its previous state.
        """
        x = as_points(source, "source")
        y = as_points(target, "target")
        shared = [None, None]
        if (source_shared is None) != (target_shared is None):
            raise ValueError("source_shared and target_shared must be given together")
        if source_shared is not None:
            shared = [as_points(source_shared, "source_shared"), as_points(target_shared, "target_shared")]
            for what, a, b in (("source", shared[0], x), ("target", shared[1], y)):
                if a.shape[0] != b.shape[0]:
                    raise ValueError(f"{what}_shared has {a.shape[0]} rows but {what} has {b.shape[0]}")
        if (source_conditions is None) != (target_conditions is None):
            raise ValueError("source_conditions and target_conditions must be given together")
        sc = tc = None
        if source_conditions is not None:
            sc = as_labels(source_conditions, "source_conditions", x.shape[0])
            tc = as_labels(target_conditions, "target_conditions", y.shape[0])
        settings = dict(
            self.settings,
            iterations=integer(iterations, "iterations", minimum=1),
            batch_size=integer(batch_size, "batch_size", minimum=2),
            ot_batch_size=None if ot_batch_size is None else integer(ot_batch_size, "ot_batch_size", minimum=2),
            ot_plan_reuse=None if ot_plan_reuse is None else integer(ot_plan_reuse, "ot_plan_reuse", minimum=1),
            checkpoint_every=integer(checkpoint_every, "checkpoint_every"),
        )
        close = None
        if progress is True:
            callback, close = progress_bar(settings["iterations"])
        elif progress is False or progress is None:
            callback = None
        elif callable(progress):
            callback = progress
        else:
            raise TypeError("progress must be True, False or a callable(iteration, iterations, loss)")
        try:
            self._model = _genot.fit(
                x,
                y,
                json.dumps(settings),
                source_shared=shared[0],
                target_shared=shared[1],
                source_conditions=sc,
                target_conditions=tc,
                progress=callback,
                checkpoint_dir=None if checkpoint_dir is None else os.fspath(checkpoint_dir),
                resume=flag(resume, "resume"),
            )
        finally:
            if close is not None:
                close()
        if self._model.fit_warning is not None:
            warnings.warn(self._model.fit_warning, RuntimeWarning, stacklevel=2)
        return self

    # ------------------------------------------------------------------ inference
    def transport(
        self,
        x: Any,
        n_samples: int = _TRANSPORT["samples"],
        conditions: Any = None,
        *,
        source_shared: Any = None,
        solver: str = _TRANSPORT["solver"],
        steps: int = _TRANSPORT["steps"],
        rtol: float = _TRANSPORT["rtol"],
        atol: float = _TRANSPORT["atol"],
        seed: int = _TRANSPORT["seed"],
        return_mean: bool = False,
        return_weights: bool = False,
        return_uncertainty: bool = False,
    ):
        """Samples ``y ~ pi(. | x)`` for every row of ``x`` (source units, float32 out).

        Returns the samples, shape ``(n, q)`` when ``n_samples == 1`` and ``(n, K, q)``
        otherwise (as ``genot transport``). With any ``return_*`` flag, returns a tuple:
        the samples, then the mean over samples ``(n, q)``, then U-GENOT's ``eta(x)``
        ``(n,)``, then the per-point uncertainty ``(n,)``, each only when asked for (the
        uncertainty needs ``n_samples >= 2``).

        ``solver``: ``"dopri5"`` or ``"tsit5"`` (adaptive, ``rtol``/``atol``, one step
        size per point) or ``"euler"``, ``"midpoint"``, ``"rk4"`` with ``steps`` fixed steps. ``conditions``: one label
        per row for conditional models. ``source_shared``: a fused model's shared
        features. The GIL is released while integrating.
        """
        model = self._fitted()
        x = as_points(x, "x")
        k = integer(n_samples, "n_samples", minimum=1)
        xs = None if source_shared is None else as_points(source_shared, "source_shared")
        labels = None if conditions is None else as_labels(conditions, "conditions", x.shape[0])
        if return_weights and not self.is_unbalanced:
            raise ValueError("return_weights: this model is balanced (no eta); train with tau_a or tau_b < 1")
        settings = {
            "samples": k,
            "solver": choice(solver, "solver", SOLVERS),
            "steps": integer(steps, "steps", minimum=1),
            "rtol": number(rtol, "rtol", positive=True),
            "atol": number(atol, "atol", positive=True),
            "seed": integer(seed, "seed"),
        }
        samples, mean, uncertainty, weights, _ = model.transport(
            x,
            json.dumps(settings),
            shared=xs,
            conditions=labels,
            uncertainty=flag(return_uncertainty, "return_uncertainty"),
        )
        if k == 1:
            samples = samples[:, 0, :]
        extra = [
            v
            for v, wanted in ((mean, return_mean), (weights, return_weights), (uncertainty, return_uncertainty))
            if wanted
        ]
        return (samples, *extra) if extra else samples

    # ------------------------------------------------------------------ AnnData
    def fit_anndata(self, source: Any, target: Any, *, key: str = "X_pca", target_key: Optional[str] = None,
                    condition_key: Optional[str] = None, shared_key: Optional[str] = None,
                    target_shared_key: Optional[str] = None, **fit_kwargs: Any) -> "GENOT":
        """:meth:`fit` on two AnnData objects: the representation ``key`` of ``source``
        (``target_key`` of ``target``, default the same), conditions from the ``obs``
        column ``condition_key``, fused shared features from ``shared_key``.

        Keys: ``"X"``, ``"obsm/NAME"`` (or just ``"NAME"``), ``"layers/NAME"``."""
        from ._anndata import fit_kwargs_from

        return self.fit(**fit_kwargs_from(source, target, key, target_key, condition_key,
                                          shared_key, target_shared_key), **fit_kwargs)

    def transport_anndata(self, adata: Any, *, key: str = "X_pca", key_added: str = "X_genot",
                          condition_key: Optional[str] = None, shared_key: Optional[str] = None,
                          n_samples: int = 1, copy: bool = False, **transport_kwargs: Any) -> Any:
        """Transports the cells of ``adata`` (representation ``key``) and writes the
        predictions into ``adata.obsm[key_added]`` (the mean when ``n_samples > 1``, with
        all samples in ``obsm[key_added + "_samples"]``, n x K x q, and their spread in
        ``obs[key_added + "_uncertainty"]``) and, for U-GENOT, eta(x) into
        ``obs[key_added + "_weight"]``, as ``genot transport --out COPY.h5ad`` does.

        As scanpy: modifies ``adata`` in place and returns None, or with ``copy=True``
        leaves it untouched and returns the new AnnData."""
        from ._anndata import store_predictions

        target = adata.copy() if flag(copy, "copy") else adata
        store_predictions(self, target, key, key_added, condition_key, shared_key, n_samples,
                          transport_kwargs)
        return target if copy else None

    # ------------------------------------------------------------------ files
    def save(self, path: PathLike) -> None:
        """Writes the model directory (``config.json``, ``model.safetensors``,
        ``history.json``), readable by :meth:`load` and by ``genot transport --model``."""
        self._fitted().save(os.fspath(path))

    @classmethod
    def load(cls, path: PathLike) -> "GENOT":
        """Reads a model directory written by :meth:`save` or ``genot fit``."""
        model = _genot.Model.load(os.fspath(path))
        s = json.loads(model.settings)
        out = cls(**{k: v for k, v in s.items() if k not in FIT_ARGUMENTS})
        out._model = model
        return out

    # ------------------------------------------------------------------ state
    @property
    def is_fitted(self) -> bool:
        return self._model is not None

    @property
    def is_unbalanced(self) -> bool:
        return self.config["rescaling"] is not None

    @property
    def config(self) -> dict:
        """The model configuration (``config.json``): dimensions, architecture,
        normalisation, matching and training settings, format version."""
        return json.loads(self._fitted().config)

    @property
    def losses(self) -> Optional[np.ndarray]:
        """The flow-matching loss per training iteration (None if unknown)."""
        losses = self._fitted().losses
        return None if losses is None else np.asarray(losses, dtype=np.float32)

    @property
    def unconverged_batches(self) -> Optional[list]:
        """Iterations (1-based) of the last fit that solved a batch coupling which stopped
        at its iteration limit (trained on as it stood; a plan that feeds several iterations
        is listed once); ``None`` for a model saved without its training history."""
        return self._fitted().unconverged_batches

    @property
    def n_parameters(self) -> int:
        """Trainable parameters of the velocity field."""
        return self._fitted().n_parameters

    def _fitted(self) -> "_genot.Model":
        if self._model is None:
            raise ValueError("this GENOT model is not fitted: call fit() or GENOT.load() first")
        return self._model

