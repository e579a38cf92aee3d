//! The readers of genot's input files, without the learning code (no burn): `.npy`
//! ([`npy`]), `.csv` ([`table`]), `.h5ad` ([`h5ad`], which also writes predictions into a
//! copy of a file), the first stage of the `genot fit --config` TOML file
//! ([`config_toml`]), and the memory guard they check declared sizes against
//! ([`memory`]). The CLI (`genot-cli`) and the core crate (`genot`) use them; the fuzz
//! targets (`fuzz/`) call them directly, so they build quickly under a nightly toolchain.
//!
//! Each reader returns an error for any input, never panics, and allocates no more than
//! the input holds (or, for HDF5, than the memory guard allows for a declared size).

pub mod config_toml;
pub mod h5ad;
pub mod memory;
pub mod npy;
pub mod table;
