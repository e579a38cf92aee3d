"""Type stubs of the compiled module `genot._genot` (see python/src/*.rs). Use the public
modules `genot`, `genot.ot` and `genot.metrics`, which check their arguments."""

from typing import Callable, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

class Model:
    @staticmethod
    def load(path: str) -> Model: ...
    def save(self, path: str) -> None: ...
    def transport(
        self,
        x: F32,
        settings: str,
        *,
        shared: Optional[F32] = None,
        conditions: Optional[List[str]] = None,
        uncertainty: bool = False,
    ) -> Tuple[F32, F32, F32, Optional[F32], int]: ...
    @property
    def config(self) -> str: ...
    @property
    def settings(self) -> str: ...
    @property
    def losses(self) -> Optional[List[float]]: ...
    @property
    def fit_seconds(self) -> Optional[float]: ...
    @property
    def n_parameters(self) -> int: ...

def default_settings() -> str: ...
def default_transport_settings() -> str: ...
def setting_choices() -> str: ...
def validate_settings(settings: str) -> None: ...
def fit(
    source: F32,
    target: F32,
    settings: str,
    *,
    source_shared: Optional[F32] = None,
    target_shared: Optional[F32] = None,
    source_conditions: Optional[List[str]] = None,
    target_conditions: Optional[List[str]] = None,
    progress: Optional[Callable[[int, int, float], object]] = None,
    checkpoint_dir: Optional[str] = None,
    resume: bool = False,
) -> Model: ...
def sinkhorn(
    x: Union[F32, F64],
    y: Union[F32, F64],
    a: Optional[Union[F32, F64]] = None,
    b: Optional[Union[F32, F64]] = None,
    *,
    cost: str = "sqeuclidean",
    epsilon: Optional[float] = None,
    relative_epsilon: Optional[str] = None,
    scale_cost: str = "mean",
    tau_a: float = 1.0,
    tau_b: float = 1.0,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
    mode: str = "auto",
    norm: str = "l1",
) -> dict: ...
def gromov_wasserstein(
    x: F64,
    y: F64,
    *,
    x_shared: Optional[F64] = None,
    y_shared: Optional[F64] = None,
    fused_penalty: float = 1.0,
    cost: str = "sqeuclidean",
    epsilon: float = 0.01,
    scale_cost: str = "mean",
    tau_a: float = 1.0,
    tau_b: float = 1.0,
    threshold: float = 1e-3,
    gw_threshold: float = 1e-3,
    max_iterations: int = 2000,
    max_outer_iterations: int = 50,
) -> dict: ...
def sinkhorn_divergence(x: F64, y: F64, *, epsilon: float = 0.1) -> float: ...
def energy_distance(x: F64, y: F64) -> float: ...
def mmd(x: F64, y: F64, *, gamma: Optional[float] = None) -> Tuple[float, float]: ...
def foscttm(x: F64, y: F64) -> float: ...
def label_transfer_accuracy(
    pred: F64, pred_labels: List[int], target: F64, target_labels: List[int], *, k: int = 5
) -> float: ...
