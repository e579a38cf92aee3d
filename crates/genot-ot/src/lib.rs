//! # genot-ot: discrete entropic optimal transport
//!
//! The discrete engine behind GENOT, usable on its own: ground [`cost`]s, [`geometry`]
//! (cost source, scaling, epsilon; dense or online), linear [`problem`]s, the
//! [`sinkhorn`] solver (log, kernel and online modes, balanced and unbalanced, f32 and f64),
//! entropic Gromov-Wasserstein and fused GW ([`gromov`], with dense or low-rank [`intra`]-space costs),
//! plan [`sampling`] and [`metrics`].
//!
//! ```
//! use genot_ot::prelude::*;
//! use ndarray::array;
//! use std::sync::Arc;
//!
//! let x = array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 1.0]];
//! let y = array![[0.1f32, 0.0], [1.1, 0.1], [0.0, 1.2]];
//! let geom = Geometry::from_points(x, y, Arc::new(SqEuclidean), ScaleCost::Mean, Epsilon::Absolute(0.05)).unwrap();
//! let out = Sinkhorn::default().solve(&LinearProblem::new(geom), None).unwrap();
//! assert!(out.converged && out.marginal_error < 1e-3);
//! ```

pub mod choice;
pub mod cost;
pub mod error;
pub mod geometry;
pub mod graph;
pub mod gromov;
pub mod intra;
pub mod metrics;
pub mod pages;
pub mod problem;
pub mod real;
pub mod sampling;
pub mod sinkhorn;
mod team;

/// The types most programs need.
pub mod prelude {
    pub use crate::cost::{Cosine, Cost, Euclidean, FnCost, PNorm, SqEuclidean};
    pub use crate::error::OtError;
    pub use crate::geometry::{Epsilon, Geometry, RelativeTo, ScaleCost};
    pub use crate::gromov::{GromovWasserstein, GwInit, GwOutput, QuadraticProblem};
    pub use crate::intra::IntraGeometry;
    pub use crate::problem::LinearProblem;
    pub use crate::real::Real;
    pub use crate::sinkhorn::{ErrorNorm, Mode, Momentum, Sinkhorn, SinkhornOutput};
}
