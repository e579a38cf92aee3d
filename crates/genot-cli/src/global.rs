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
