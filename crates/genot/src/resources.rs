//! Memory estimates and the guard that refuses work that cannot fit, before anything is
//! allocated: a fit (the networks with their optimiser state, the activations of one step,
//! the batch plans), a transport (samples x points x dimensions) and a dense matrix read
//! from a file. The limit is the memory available now (as the operating system reports it),
//! or the one set with [`set_memory_limit`] (`max_memory`, the CLI's `--max-memory`) or the environment
//! variable `GENOT_MAX_MEMORY` (`16G`, `512M`, or bytes).
//!
//! ```
//! use genot::resources::{check, parse_size, Need};
//! assert_eq!(parse_size("2G").unwrap(), 2 << 30);
//! let need = Need::new("a transport").term("the samples", 1e15 as u128, &["samples"]);
//! assert!(check(&need).is_err());
//! ```

pub use genot_io::memory::{
    check, check_with, human, memory_limit, parse_size, product, set_memory_limit, Need, SizeError,
    Term, TooLarge,
};

use crate::config::GenotConfig;
use crate::velocity::VelocityFieldConfig;

/// Parameters of a dense branch: `layers` layers of `width` units on `input` features.
fn branch_params(input: usize, width: usize, layers: usize) -> u128 {
    if layers == 0 {
        return 0;
    }
    let first = product(&[input, width]).saturating_add(width as u128);
    let rest = product(&[layers - 1, width, width]).saturating_add(product(&[layers - 1, width]));
    first.saturating_add(rest)
}

impl VelocityFieldConfig {
    /// The number of parameters, without building the network (saturates instead of
    /// overflowing for absurd sizes).
    pub fn num_params_estimate(&self) -> u128 {
        let (w, l) = (self.hidden, self.layers);
        [
            branch_params(2usize.saturating_mul(self.time_frequencies), w, l),
            branch_params(self.condition_dim, w, l),
            branch_params(self.target_dim, w, l),
            branch_params(3usize.saturating_mul(w), w, l),
            product(&[w, self.target_dim]).saturating_add(self.target_dim as u128),
        ]
        .into_iter()
        .fold(0, u128::saturating_add)
    }
}

/// The memory of a fit of `config`: the networks with gradients, the optimiser's moments
/// and an EMA copy; the activations of one step on `batch_size x k_samples` pairs; the
/// batch plans (cost, kernel and plan; GW also its intra-space costs and a product).
pub fn fit_need(config: &GenotConfig) -> Need {
    let v = &config.velocity;
    let f32b = 4usize;
    let mut params = v.num_params_estimate();
    if let Some(r) = config.rescaling {
        params = params
            .saturating_add(branch_params(config.source_dim, r.hidden, r.layers))
            .saturating_add(branch_params(config.target_dim, r.hidden, r.layers));
    }
    let b = config.training.batch_size;
    let pairs = product(&[b, config.matching.k_samples]);
    let features = 2 * v.time_frequencies as u128 + v.condition_dim as u128 + v.target_dim as u128;
    // Per pair: the inputs, and for each of the 4 blocks and each layer the pre- and
    // post-activation values and their gradients.
    let per_pair = features
        .saturating_add(product(&[16, v.layers, v.hidden]))
        .saturating_mul(f32b as u128);
    let ot = config.matching.ot_batch_size.unwrap_or(b).max(b);
    let linear = config.matching.kind == crate::config::Kind::Linear;
    let plans = if linear && product(&[ot, ot]) > crate::coupling::DENSE_BATCH_ENTRIES as u128 {
        // Online: the points, potentials and marginals, the cost blocks of the sweeps (2^20
        // entries per thread), and the plan rows the pairs come from.
        let points = product(&[2, ot, config.source_dim.max(config.target_dim)]);
        let rows = product(&[b, config.matching.k_samples, ot]);
        (points
            + product(&[8, ot])
            + product(&[2, 1 << 20, rayon::current_num_threads()])
            + 2 * rows)
            .saturating_mul(f32b as u128)
    } else if linear {
        product(&[4, ot, ot, f32b])
    } else {
        product(&[8, ot, ot, f32b])
    };
    Need::new("this fit")
        .term(
            "the networks with gradients, optimiser state and EMA",
            params.saturating_mul(6 * f32b as u128),
            &["hidden", "layers", "time_frequencies"],
        )
        .term(
            "the activations of one step (batch_size x k_samples pairs)",
            pairs.saturating_mul(per_pair),
            &["k_samples", "batch_size", "layers", "hidden"],
        )
        .term("the batch plans", plans, &["ot_batch_size", "batch_size"])
}

/// The memory of sampling `samples` targets for each of `n` points with a model of
/// `config` (the samples, their latents, conditions and mean, and the solver's stages on
/// a chunk of `chunk` rows).
pub fn transport_need(config: &GenotConfig, n: usize, samples: usize, chunk: usize) -> Need {
    let rows = product(&[n, samples]);
    let q = config.target_dim as u128;
    let per_row = 8 + 4 * config.velocity.condition_dim as u128 + 20 * q;
    let stages = product(&[
        chunk.min(n.saturating_mul(samples)),
        config.velocity.hidden,
        64,
    ]);
    Need::new("this transport")
        .term(
            "the samples (points x samples x dimensions)",
            rows.saturating_mul(per_row),
            &["samples"],
        )
        .term("the solver's work on one chunk", stages, &["samples"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    #[test]
    fn the_parameter_count_matches_the_network() {
        for (c, q, w, l, f) in [(2, 2, 16, 2, 4), (7, 3, 8, 1, 5), (1, 5, 32, 3, 16)] {
            let cfg = VelocityFieldConfig {
                condition_dim: c,
                target_dim: q,
                hidden: w,
                layers: l,
                time_frequencies: f,
            };
            let built = cfg.init(&burn::tensor::Device::flex()).num_params() as u128;
            assert_eq!(cfg.num_params_estimate(), built);
        }
        let absurd = VelocityFieldConfig {
            condition_dim: 2,
            target_dim: 2,
            hidden: usize::MAX,
            layers: usize::MAX,
            time_frequencies: usize::MAX,
        };
        assert!(absurd.num_params_estimate() > 1u128 << 64);
    }

    #[test]
    fn sizes_parse_and_a_set_limit_applies() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("-1G").is_err() && parse_size("lots").is_err());
        let limit = (1 << 20, "a test limit");
        let small = Need::new("x").term("a", 1000, &[]);
        let big = Need::new("y")
            .term("b", 10, &["batch_size"])
            .term("c", 2 << 20, &["k_samples"]);
        assert!(check_with(&small, limit).is_ok());
        let e = check_with(&big, limit).unwrap_err();
        assert_eq!(e.dominant.settings, vec!["k_samples"]);
        let text = e.to_string();
        assert!(
            text.contains("lower `k_samples`") && text.contains("(`max_memory` or"),
            "{text}"
        );
        assert!(text.contains("2.0 MB") && text.contains("1.0 MB"), "{text}");
        // The machine reports its memory (the guard is live, not a no-op).
        assert!(memory_limit().0 > 1 << 20);
    }
}
