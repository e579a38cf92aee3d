//! The memory guard that refuses work that cannot fit, before anything is allocated: a
//! [`Need`] (an estimate, as a list of terms) checked against the limit, which is the
//! memory available now (as the operating system reports it), or the one set with
//! [`set_memory_limit`] (the setting `max_memory`, the CLI's `--max-memory`) or the environment variable
//! `GENOT_MAX_MEMORY` (`16G`, `512M`, or bytes). The readers use it for sizes a file
//! declares; `genot::resources` re-exports it and adds the estimates of a fit and a
//! transport.
//!
//! ```
//! use genot_io::memory::{check, parse_size, Need};
//! assert_eq!(parse_size("2G").unwrap(), 2 << 30);
//! let need = Need::new("a transport").term("the samples", 1e15 as u128, &["samples"]);
//! assert!(check(&need).is_err());
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// 0: no limit set; the available memory applies.
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// Sets the memory limit for this process (`None`: the available memory).
pub fn set_memory_limit(bytes: Option<u64>) {
    LIMIT.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// Text that is not a size ([`parse_size`]).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SizeError {
    /// Not a number with an optional unit.
    #[error("'{0}' is not a size (e.g. 16G, 512M or a number of bytes)")]
    NotASize(String),
    /// A size of zero, or negative.
    #[error("'{0}': a size must be positive")]
    NotPositive(String),
}

/// Parses a size: bytes, or a number with K, M, G or T (powers of 1024; `GB`, `GiB` alike).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
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
        _ => return Err(SizeError::NotASize(text.into())),
    };
    let v: f64 = digits
        .trim()
        .parse()
        .map_err(|_| SizeError::NotASize(text.into()))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(SizeError::NotPositive(text.into()));
    }
    Ok((v * scale as f64).min(u64::MAX as f64) as u64)
}

/// The memory limit in bytes and where it comes from.
pub fn memory_limit() -> (u64, &'static str) {
    let set = LIMIT.load(Ordering::Relaxed);
    if set > 0 {
        return (set, "the limit set with `max_memory`");
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
    /// What takes the memory (`the batch plans`).
    pub what: String,
    /// Its bytes.
    pub bytes: u128,
    /// Setting names (the Python keywords; the CLI's flags with `-` for `_`).
    pub settings: Vec<&'static str>,
}

/// An estimate of the memory some work needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// The work estimated (`this fit`).
    pub work: String,
    /// Its parts.
    pub terms: Vec<Term>,
}

impl Need {
    /// An estimate of `work` with no terms yet.
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

    /// The bytes of all the terms (saturating).
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

/// The estimate exceeds the limit. The message names the settings in backquotes
/// (`` `k_samples` ``, `` `max_memory` ``), as the other library errors do.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("{} needs about {} of memory ({}: {}), more than {} ({}); lower {}, or raise the limit (`max_memory` or GENOT_MAX_MEMORY) if the estimate is wrong",
    .need.work, human(.need.total()), .dominant.what, human(.dominant.bytes), human(*.limit as u128), .source_of_limit,
    quoted(&.dominant.settings))]
pub struct TooLarge {
    /// The estimate refused.
    pub need: Need,
    /// Its largest term.
    pub dominant: Term,
    /// The limit in bytes.
    pub limit: u64,
    /// Where the limit comes from (`GENOT_MAX_MEMORY`).
    pub source_of_limit: &'static str,
}

/// `` `a` or `b` ``: setting names in backquotes.
fn quoted(settings: &[&str]) -> String {
    let names: Vec<String> = settings.iter().map(|s| format!("`{s}`")).collect();
    names.join(" or ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_or_say_why_not() {
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("lots"), Err(SizeError::NotASize("lots".into())));
        assert_eq!(parse_size("0M"), Err(SizeError::NotPositive("0M".into())));
    }

    #[test]
    fn a_refusal_names_settings_not_flags() {
        let need =
            Need::new("this fit").term("the plans", 2 << 20, &["ot_batch_size", "batch_size"]);
        let e = check_with(&need, (1 << 20, "the limit set with `max_memory`")).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("lower `ot_batch_size` or `batch_size`, or raise the limit (`max_memory` or GENOT_MAX_MEMORY)")
                && shown.contains("(the limit set with `max_memory`)")
                && !shown.contains("--"),
            "{shown}"
        );
    }
}
