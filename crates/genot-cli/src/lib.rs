//! The `genot` command line as a library: each subcommand's arguments and `run` function,
//! and the readers and writers of the data files (`.npy`, `.csv`, `.h5ad`). The binary
//! (`src/main.rs`) parses the command line and calls these; the readers themselves are
//! in `genot-io`, which the fuzz targets (`fuzz/`) call directly.

pub mod config_file;
pub mod demo;
pub mod device;
pub mod error;
pub mod eval;
pub mod fit;
pub mod global;
pub mod io;
pub mod plot;
pub mod progress;
pub mod solve;
pub mod spec;
pub mod transport;

// The readers live in the burn-free crate `genot-io` (which the fuzz targets build).
pub use genot_io::{h5ad, npy};
