//! # genot: generative entropic neural optimal transport
//!
//! The learning half of the project (SPEC sections 1-3), built on the discrete engine
//! `genot-ot`. This first part holds the batched ODE solvers that `transport` integrates the
//! learned velocity field with; the velocity field, matching and training come next.

pub mod ode;
