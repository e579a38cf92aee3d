//! The options every subcommand takes (`genot -q fit ...`, `genot fit ... -q`).

use clap::Args;

/// Global options, flattened into the command line of every subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The most memory a command may plan to use (16G, 512M, or bytes; default: the memory
    /// available now, or GENOT_MAX_MEMORY). Work estimated to need more is refused before
    /// it starts, with the setting to change.
    #[arg(long, global = true, value_name = "SIZE", value_parser = genot::resources::parse_size)]
    pub max_memory: Option<u64>,
    /// No progress output on stderr (a bar on a terminal; elsewhere, as in a log file, a
    /// line every 10 seconds). Warnings and errors are still printed.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The position of the subcommand in `argv` (program name first): the first argument
/// that is neither a global option nor the value of one (`genot --max-memory 16G fit`).
pub fn subcommand_at(argv: &[std::ffi::OsString]) -> usize {
    let globals = GlobalArgs::augment_args(clap::Command::new("genot"));
    let takes_value = |a: &str| {
        globals.get_arguments().any(|arg| {
            arg.get_action().takes_values()
                && (arg.get_long().is_some_and(|l| a == format!("--{l}"))
                    || arg.get_short().is_some_and(|s| a == format!("-{s}")))
        })
    };
    let mut at = 1;
    while let Some(a) = argv.get(at).map(|a| a.to_string_lossy()) {
        if !a.starts_with('-') {
            break;
        }
        at += if takes_value(&a) { 2 } else { 1 };
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subcommand_follows_the_global_options_and_their_values() {
        let at = |args: &[&str]| {
            let v: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            subcommand_at(&v)
        };
        assert_eq!(at(&["genot", "fit"]), 1);
        assert_eq!(at(&["genot", "-q", "fit"]), 2);
        assert_eq!(at(&["genot", "--max-memory", "16G", "fit"]), 3);
        assert_eq!(at(&["genot", "--max-memory=16G", "-q", "fit"]), 3);
        assert_eq!(at(&["genot"]), 1);
    }
}
