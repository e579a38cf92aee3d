//! # genot: generative entropic neural optimal transport
//!
//! The learning half of the project (SPEC sections 1-3), on the burn deep-learning
//! framework and the discrete engine `genot-ot`:
//!
//! - [`config`]: everything that defines a model and its training (`config.json`);
//! - [`data`]: training data, shared features, condition labels, normalisation;
//! - [`coupling`]: the discrete plan of a batch (Sinkhorn, GW, fused GW, unbalanced);
//! - [`matching`]: pairs drawn from a plan, per-source latent matching;
//! - [`flow`]: straight probability paths and stratified times;
//! - [`velocity`], [`rescaling`]: the networks;
//! - [`settings`]: the one schema of a run's settings (CLI flags, TOML keys, Python
//!   arguments) and of transport's;
//! - [`configure`]: the model configuration a fit trains, checked against the data;
//! - [`trainer`]: one training iteration at a time; [`train`]: the whole fit (progress,
//!   Ctrl-C, checkpoints); [`checkpoint`], [`history`]: the checkpoint folder and the
//!   training report;
//! - [`model`]: the fitted model, save and load; [`transport`], [`ode`]: transport of new
//!   points; [`tensor`]: host arrays, tensors and condition inputs;
//! - [`model_dir`]: the model directory as one atomic unit (staging, swap, manifest);
//! - [`resources`]: memory estimates and the guard that refuses what cannot fit;
//! - [`params`]: named weights, safetensors, EMA.
//!
//! The compute device is chosen at run time (`burn::tensor::Device`): `Device::flex()` on
//! the CPU by default; GPU backends come with burn's cargo features.

pub mod adam;
pub mod checkpoint;
pub mod config;
pub mod configure;
pub mod coupling;
pub mod data;
pub mod engine;
pub mod error;
pub mod flow;
pub mod history;
pub mod layers;
pub mod matching;
pub mod model;
pub mod model_dir;
pub mod native;
pub mod native_rescaling;
pub mod ode;
pub mod orientation;
pub mod params;
pub mod rescaling;
pub mod resources;
pub mod settings;
pub mod tensor;
pub mod train;
pub mod trainer;
pub mod transport;
pub mod velocity;

pub use config::{GenotConfig, Kind, MatchingConfig, TrainConfig};
pub use data::TrainingData;
pub use error::GenotError;
pub use model::{Genot, TransportOptions, Transported};
pub use settings::FitSettings;
pub use train::{fit, make_config, Architecture, FitOptions, Progress, TrainReport};
