//! Memory estimates and the guard that refuses work that cannot fit, before anything is
//! allocated: a fit (the networks with their optimiser state, the activations of one step,
//! the batch plans), a transport (samples x points x dimensions) and a dense matrix read
//! from a file. The limit is the memory available now (as the operating system reports it),
//! or the one set with [`set_memory_limit`] (the CLI's `--max-memory`) or the environment
//! variable `GENOT_MAX_MEMORY` (`16G`, `512M`, or bytes).
//!
//! ```
//! use genot::resources::{check, parse_size, Need};
//! assert_eq!(parse_size("2G").unwrap(), 2 << 30);
//! let need = Need::new("a transport").term("the samples", 1e15 as u128, &["samples"]);
//! assert!(check(&need).is_err());
//! ```

use crate::config::GenotConfig;
use crate::velocity::VelocityFieldConfig;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// 0: no limit set; the available memory applies.
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// Sets the memory limit for this process (`None`: the available memory).
pub fn set_memory_limit(bytes: Option<u64>) {
    LIMIT.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// Parses a size: bytes, or a number with K, M, G or T (powers of 1024; `GB`, `GiB` alike).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let digits = upper.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &upper[digits.len()..];
    let scale: u64 = match unit {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => {
            return Err(format!(
                "'{text}' is not a size (e.g. 16G, 512M or a number of bytes)"
            ))
        }
    };
    let v: f64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a size (e.g. 16G, 512M or a number of bytes)"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("'{text}': a size must be positive"));
    }
    Ok((v * scale as f64).min(u64::MAX as f64) as u64)
}

/// The memory limit in bytes and where it comes from.
pub fn memory_limit() -> (u64, &'static str) {
    let set = LIMIT.load(Ordering::Relaxed);
    if set > 0 {
        return (set, "the limit set with --max-memory");
    }
    if let Some(v) = std::env::var("GENOT_MAX_MEMORY")
        .ok()
        .and_then(|t| parse_size(&t).ok())
    {
        return (v, "GENOT_MAX_MEMORY");
    }
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    let mut available = sys.available_memory();
    if let Some(c) = sys.cgroup_limits() {
        available = available.min(c.free_memory);
    }
    if available == 0 {
        // Not reported on this platform: no guard beyond the allocator's own.
        return (u64::MAX, "the available memory (unknown here)");
    }
    (available, "the available memory")
}

/// Bytes as a short human text (`1.5 GB`).
pub fn human(bytes: u128) -> String {
    let b = bytes as f64;
    let (v, u) = if b >= (1u64 << 40) as f64 {
        (b / (1u64 << 40) as f64, "TB")
    } else if b >= (1u64 << 30) as f64 {
        (b / (1u64 << 30) as f64, "GB")
    } else if b >= (1u64 << 20) as f64 {
        (b / (1u64 << 20) as f64, "MB")
    } else {
        (b / 1024.0, "KB")
    };
    if v >= 1e4 {
        format!("{v:.2e} {u}")
    } else {
        format!("{v:.1} {u}")
    }
}

/// One part of an estimate: what it is, its bytes, and the settings that size it.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub what: String,
    pub bytes: u128,
    /// Setting names (the Python keywords; the CLI's flags with `-` for `_`).
    pub settings: Vec<&'static str>,
}

/// An estimate of the memory some work needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    pub work: String,
    pub terms: Vec<Term>,
}

impl Need {
    pub fn new(work: &str) -> Need {
        Need {
            work: work.to_string(),
            terms: vec![],
        }
    }

    /// Adds a term.
    pub fn term(mut self, what: &str, bytes: u128, settings: &[&'static str]) -> Need {
        self.terms.push(Term {
            what: what.to_string(),
            bytes,
            settings: settings.to_vec(),
        });
        self
    }

    pub fn total(&self) -> u128 {
        self.terms
            .iter()
            .map(|t| t.bytes)
            .fold(0, u128::saturating_add)
    }

    /// The largest term.
    pub fn dominant(&self) -> Option<&Term> {
        self.terms.iter().max_by_key(|t| t.bytes)
    }
}

/// The estimate exceeds the limit.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("{} needs about {} of memory ({}: {}), more than {} ({}); lower {}, or raise the limit (--max-memory or GENOT_MAX_MEMORY) if the estimate is wrong",
    .need.work, human(.need.total()), .dominant.what, human(.dominant.bytes), human(*.limit as u128), .source_of_limit,
    .dominant.settings.join(" or "))]
pub struct TooLarge {
    pub need: Need,
    pub dominant: Term,
    pub limit: u64,
    pub source_of_limit: &'static str,
}

/// Refuses `need` when it exceeds the memory limit.
pub fn check(need: &Need) -> Result<(), Box<TooLarge>> {
    check_with(need, memory_limit())
}

/// Refuses `need` when it exceeds `limit` (bytes, and where the limit comes from).
pub fn check_with(
    need: &Need,
    (limit, source_of_limit): (u64, &'static str),
) -> Result<(), Box<TooLarge>> {
    if need.total() <= limit as u128 {
        return Ok(());
    }
    Err(Box::new(TooLarge {
        dominant: need
            .dominant()
            .cloned()
            .expect("a need exceeding a limit has terms"),
        need: need.clone(),
        limit,
        source_of_limit,
    }))
}

/// `a * b * ...` without overflow (saturating).
pub fn product(factors: &[usize]) -> u128 {
    factors
        .iter()
        .fold(1u128, |acc, &f| acc.saturating_mul(f as u128))
}

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
    let plans = if config.matching.kind == crate::config::Kind::Linear {
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
            text.contains("lower k_samples") && text.contains("--max-memory"),
            "{text}"
        );
        assert!(text.contains("2.0 MB") && text.contains("1.0 MB"), "{text}");
        // The machine reports its memory (the guard is live, not a no-op).
        assert!(memory_limit().0 > 1 << 20);
    }
}
