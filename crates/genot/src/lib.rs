//! # genot: generative entropic neural optimal transport
//!
//! The learning half of the project (SPEC sections 1-3), built on the discrete engine
//! `genot-ot`. So far: the batched ODE solvers that transport integrates the learned
//! velocity field with ([`ode`]), flow-matching paths and time sampling ([`flow`]), and the
//! matching of a batch into training pairs for linear problems ([`matching`]). The velocity
//! field and training come next.

pub mod flow;
pub mod matching;
pub mod ode;
