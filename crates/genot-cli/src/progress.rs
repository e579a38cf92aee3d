//! Progress on stderr for long commands: an animated bar on a terminal; elsewhere (a log
//! file, `nohup`, a cluster job) a plain line when the work starts, every
//! [`LINE_EVERY_SECONDS`] seconds, and when it ends; nothing at all with `--quiet`.
//!
//! ```
//! use genot_cli::progress::Progress;
//!
//! let mut p = Progress::counter("fit", 100);
//! for i in 1..=100 {
//!     p.update(i, &format!("loss {:.3}", 1.0 / i as f64));
//! }
//! p.finish();
//! ```

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Seconds between two plain progress lines when stderr is not a terminal.
pub const LINE_EVERY_SECONDS: u64 = 10;

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences all progress output (`--quiet`); warnings and errors are still printed.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

enum Shown {
    Bar(ProgressBar),
    /// Plain lines; `printed`: whether one was printed already.
    Lines {
        next: Instant,
        every: Duration,
        printed: bool,
    },
    Nothing,
}

/// The progress of one piece of work (a fit's iterations, a solve, a transport).
pub struct Progress {
    label: String,
    /// The number of steps (`None`: open-ended work, shown as a spinner).
    total: Option<u64>,
    start: Instant,
    pos: u64,
    message: String,
    shown: Shown,
}

impl Progress {
    /// Work of `total` steps (iterations), reported with [`Progress::update`].
    pub fn counter(label: &str, total: u64) -> Self {
        Self::new(label, Some(total), "")
    }

    /// Work without a step count (a spinner on a terminal), described by `message`.
    pub fn spinner(label: &str, message: &str) -> Self {
        Self::new(label, None, message)
    }

    fn new(label: &str, total: Option<u64>, message: &str) -> Self {
        let every = Duration::from_secs(
            std::env::var("GENOT_PROGRESS_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(LINE_EVERY_SECONDS),
        );
        let shown = if quiet() {
            Shown::Nothing
        } else if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(n) => {
                    let bar = ProgressBar::new(n);
                    bar.set_style(
                        ProgressStyle::with_template(&format!(
                            "{label} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta_precise}}] {{msg}}"
                        ))
                        .expect("valid template"),
                    );
                    bar
                }
                None => {
                    let bar = ProgressBar::new_spinner();
                    bar.set_style(
                        ProgressStyle::with_template(&format!(
                            "{{spinner}} {label} {{elapsed}}: {{msg}}"
                        ))
                        .expect("valid template"),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bar
                }
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_message(message.to_string());
            Shown::Bar(bar)
        } else {
            Shown::Lines {
                next: Instant::now() + every,
                every,
                // A counter (a fit) announces itself; a spinner (a solve, often a few
                // milliseconds) only speaks once it has run for `every`.
                printed: total.is_some(),
            }
        };
        let p = Progress {
            label: label.to_string(),
            total,
            start: Instant::now(),
            pos: 0,
            message: message.to_string(),
            shown,
        };
        if let Shown::Lines { printed: true, .. } = p.shown {
            eprintln!("{}", p.line("started"));
        }
        p
    }

    /// Records step `pos` (of `total` for a counter) with a short `message` (for example
    /// `loss 0.1234`); on a terminal the bar moves, elsewhere a line is printed when
    /// [`LINE_EVERY_SECONDS`] have passed since the last one.
    pub fn update(&mut self, pos: u64, message: &str) {
        self.pos = pos;
        match &mut self.shown {
            Shown::Bar(bar) => {
                bar.set_position(pos);
                if !message.is_empty() {
                    bar.set_message(message.to_string());
                }
            }
            Shown::Lines {
                next,
                every,
                printed,
            } => {
                if !message.is_empty() {
                    self.message = message.to_string();
                }
                let now = Instant::now();
                if now >= *next {
                    *next = now + *every;
                    *printed = true;
                    eprintln!("{}", self.line(""));
                }
            }
            Shown::Nothing => {}
        }
    }

    /// Prints a line (a warning) without breaking the bar.
    pub fn println(&self, text: &str) {
        match &self.shown {
            Shown::Bar(bar) => bar.suspend(|| eprintln!("{text}")),
            _ => eprintln!("{text}"),
        }
    }

    /// Ends the work: the bar is cleared; elsewhere, if a line was printed or the work ran
    /// for at least the line interval, a last line says how long it took. Later calls do
    /// nothing.
    pub fn finish(&mut self) {
        match std::mem::replace(&mut self.shown, Shown::Nothing) {
            Shown::Bar(bar) => bar.finish_and_clear(),
            Shown::Lines { printed, every, .. } => {
                if printed || self.start.elapsed() >= every {
                    eprintln!("{}", self.line("done"));
                }
            }
            Shown::Nothing => {}
        }
    }

    /// `fit: iteration 1200/5000 (24%), loss 0.1234, 48.1 it/s, ETA 1m19s, 25 s elapsed`.
    fn line(&self, state: &str) -> String {
        format!("{}: {}", self.label, self.parts(state).join(", "))
    }

    fn parts(&self, state: &str) -> Vec<String> {
        let elapsed = self.start.elapsed().as_secs_f64();
        let mut parts = Vec::new();
        if let Some(total) = self.total {
            parts.push(format!(
                "iteration {}/{total} ({:.0}%)",
                self.pos,
                100.0 * self.pos as f64 / total.max(1) as f64
            ));
        }
        if !self.message.is_empty() {
            parts.push(self.message.clone());
        }
        if let Some(total) = self.total {
            if self.pos > 0 && elapsed > 0.0 {
                let rate = self.pos as f64 / elapsed;
                parts.push(format!("{rate:.1} it/s"));
                if self.pos < total {
                    parts.push(format!(
                        "ETA {}",
                        duration((total - self.pos) as f64 / rate)
                    ));
                }
            }
        }
        parts.push(format!("{} elapsed", duration(elapsed)));
        if !state.is_empty() {
            parts.push(state.to_string());
        }
        parts
    }
}

/// `42 s`, `3m07s`, `2h05m`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_writes_them() {
        assert_eq!(duration(0.4), "0 s");
        assert_eq!(duration(42.0), "42 s");
        assert_eq!(duration(187.0), "3m07s");
        assert_eq!(duration(7500.0), "2h05m");
    }

    #[test]
    fn a_line_names_the_iteration_the_rate_and_the_time_left() {
        let mut p = Progress {
            label: "fit".into(),
            total: Some(5000),
            start: Instant::now() - Duration::from_secs(25),
            pos: 1250,
            message: "loss 0.1234".into(),
            shown: Shown::Nothing,
        };
        let line = p.line("");
        assert!(
            line.starts_with("fit: iteration 1250/5000 (25%), loss 0.1234, 50.0 it/s, ETA 1m15s"),
            "{line}"
        );
        p.pos = 5000;
        assert!(!p.line("done").contains("ETA"));
        assert!(p.line("done").ends_with("done"));
    }
}
