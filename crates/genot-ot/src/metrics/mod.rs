//! Metrics between point clouds and against closed forms.
//!
//! - [`sinkhorn_divergence`]: debiased Sinkhorn divergence.
//! - [`energy_distance`], [`mmd_rbf`]: kernel two-sample statistics.
//! - [`foscttm`]: fraction of samples closer than the true match (paired data).
//! - [`label_transfer_accuracy`]: k-nearest-neighbour label transfer from target to predictions.
//! - [`gaussian`]: closed-form entropic OT between Gaussians, Bures-Wasserstein, BW-UVP and
//!   conditional cBW-UVP.

mod distances;
mod divergence;
mod foscttm;
pub mod gaussian;
mod label_transfer;

pub use distances::{energy_distance, median_heuristic_gamma, mmd_rbf};
pub use divergence::{sinkhorn_divergence, SinkhornDivergence};
pub use foscttm::foscttm;
pub use label_transfer::label_transfer_accuracy;
