//! The model configuration a fit trains, from the data and the user's choices: the network
//! sizes ([`Architecture`]) and the checks that need the data ([`make_config`]).

use crate::config::{
    GenotConfig, Kind, MatchingConfig, RescalingConfig, TrainConfig, FORMAT_VERSION,
};
use crate::data::TrainingData;
use crate::error::{GenotError, Result};
use crate::velocity::VelocityFieldConfig;

/// Network sizes chosen by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Architecture {
    pub hidden: usize,
    pub layers: usize,
    pub time_frequencies: usize,
    pub rescaling: RescalingConfig,
}

impl Default for Architecture {
    /// Width 256, 3 layers per block, 128 time frequencies (SPEC section 2, single cell).
    fn default() -> Self {
        Architecture {
            hidden: 256,
            layers: 3,
            time_frequencies: 128,
            rescaling: RescalingConfig::default(),
        }
    }
}

/// The configuration that [`crate::fit`] will train, from the data and the user's choices.
pub fn make_config(
    data: &TrainingData,
    matching: MatchingConfig,
    training: TrainConfig,
    arch: Architecture,
) -> Result<GenotConfig> {
    data.validate()?;
    matching.validate()?;
    training.validate()?;
    let b = training.batch_size;
    let points = data.source.nrows().max(data.target.nrows());
    let m = matching
        .ot_batch_size
        .unwrap_or_else(|| matching.default_ot_batch(b, points));
    if m < b {
        return Err(GenotError::Invalid(format!(
            "ot_batch_size ({m}) must be at least batch_size ({b}): the network's pairs are drawn from the OT batch"
        )));
    }
    if matching.ot_plan_reuse == Some(0) {
        return Err(GenotError::Invalid(
            "ot_plan_reuse must be at least 1 (1: a fresh plan every iteration)".into(),
        ));
    }
    // The model records the OT batch and reuse in effect, not "the default" (the reuse is
    // filled in by `settled` below).
    let matching = MatchingConfig {
        ot_batch_size: Some(m),
        ..matching
    };
    let (p, q) = (data.source.ncols(), data.target.ncols());
    let graph = matches!(
        genot_ot::choice::CostChoice::<f32>::parse(&matching.cost),
        Ok(genot_ot::choice::CostChoice::Graph(_))
    );
    match matching.kind {
        Kind::Linear if p != q && !graph => {
            return Err(GenotError::Invalid(format!(
                "a linear problem compares source and target points, but the source has {p} features and the target {q}: use `kind` quadratic (or fused) for different spaces"
            )))
        }
        Kind::Linear if p != q => {
            return Err(GenotError::Invalid(format!(
                "a graph cost joins source and target in one graph: they need the same number of features ({p} vs {q})"
            )))
        }
        Kind::Fused if data.source_shared_dim == 0 || data.target_shared_dim == 0 => {
            return Err(GenotError::Invalid(
                "a fused problem needs shared features for both source and target".into(),
            ))
        }
        Kind::Fused if data.source_shared_dim != data.target_shared_dim => {
            return Err(GenotError::Invalid(format!(
                "the shared features must have the same dimension: {} (source) vs {} (target)",
                data.source_shared_dim, data.target_shared_dim
            )))
        }
        Kind::Fused if data.source_shared_dim >= p || data.target_shared_dim >= q => {
            return Err(GenotError::Invalid(
                "a fused problem needs features besides the shared ones in both spaces".into(),
            ))
        }
        Kind::Linear | Kind::Quadratic if data.source_shared_dim + data.target_shared_dim > 0 => {
            return Err(GenotError::Invalid(
                "shared features are for fused problems (`kind` fused)".into(),
            ))
        }
        _ => {}
    }
    let conditions = data.labels();
    let velocity = VelocityFieldConfig {
        condition_dim: p + conditions.len(),
        target_dim: q,
        hidden: arch.hidden,
        layers: arch.layers,
        time_frequencies: arch.time_frequencies,
    };
    velocity.validate()?;
    let rescaling = (!matching.is_balanced()).then_some(arch.rescaling);
    Ok(GenotConfig {
        format_version: FORMAT_VERSION,
        source_dim: p,
        target_dim: q,
        source_shared_dim: data.source_shared_dim,
        target_shared_dim: data.target_shared_dim,
        conditions,
        velocity,
        rescaling,
        normalization: data.normalization(training.normalize),
        matching,
        training,
        trained_by: None,
    }
    .settled())
}
