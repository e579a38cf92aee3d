//! `genot`: generative entropic neural optimal transport from the command line.
//!
//! Subcommands: `fit` (train a GENOT model), `transport` (sample it for new points), `solve`
//! (discrete entropic OT between two point clouds), `eval` (metrics between predicted and
//! observed points), `plot` (figures), `demo` (all of it on a built-in task).

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use genot_cli::error::CliError;
use genot_cli::{demo, eval, fit, plot, solve, transport};

#[derive(Debug, Parser)]
#[command(
    name = "genot",
    version,
    about = "Generative entropic neural optimal transport"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: genot_cli::global::GlobalArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Solve a discrete entropic OT problem between two point clouds (Sinkhorn) and print
    /// a JSON report on stdout.
    #[command(allow_negative_numbers = true)]
    Solve(Box<solve::SolveArgs>),
    /// Compare predicted points with observed targets: Sinkhorn divergence, energy distance,
    /// RBF MMD, FOSCTTM (--paired), label transfer accuracy (--pred-labels/--target-labels).
    /// JSON on stdout, a table on stderr.
    #[command(allow_negative_numbers = true)]
    Eval(eval::EvalArgs),
    /// Train a GENOT model (linear, quadratic or fused; balanced or unbalanced; with or
    /// without conditions) and write it to a model directory. JSON report on stdout.
    /// `--config FILE.toml` reads the flags from a file (flags given here override it).
    Fit(Box<fit::FitArgs>),
    /// Sample the learned conditional distributions for new source points with a model
    /// directory from `genot fit`. JSON report on stdout.
    #[command(allow_negative_numbers = true)]
    Transport(Box<transport::TransportArgs>),
    /// Draw a PNG: a model's training loss (--model) or a scatter of source points, their
    /// predictions and the targets (--source --pred [--target]).
    #[command(allow_negative_numbers = true)]
    Plot(plot::PlotArgs),
    /// Run the whole workflow on a built-in synthetic task (fit, transport, eval, plots) in
    /// well under a minute; no arguments needed. Prints where the outputs are.
    #[command(allow_negative_numbers = true)]
    Demo(demo::DemoArgs),
}

fn to_json(report: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string(report)
        .map_err(|e| CliError::Run(format!("cannot encode the report: {e}")))
}

/// Exits on a command-line error as clap does, but a value its parser refused (a
/// malformed data spec: `--source cells.h5ad:uns/x`) is one line, as the other input
/// errors are: `error: invalid value '...' for '--source <SOURCE>': why`, exit code 2.
fn exit_on(e: clap::Error) -> ! {
    if e.kind() == clap::error::ErrorKind::ValueValidation {
        let text = e.to_string();
        eprintln!("{}", text.lines().next().unwrap_or_default());
        std::process::exit(CliError::Input(String::new()).exit_code());
    }
    e.exit()
}

fn main() {
    // The fit and transport settings' defaults come from their schemas (genot::settings).
    let matches = Cli::command()
        .mut_subcommand("fit", genot::FitSettings::defaults_in)
        .mut_subcommand("transport", genot::settings::TransportSettings::defaults_in)
        .try_get_matches()
        .unwrap_or_else(|e| exit_on(e));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    genot::resources::set_memory_limit(cli.global.max_memory);
    genot_cli::progress::set_quiet(cli.global.quiet);
    let result: Result<String, CliError> = match &cli.command {
        Command::Solve(args) => solve::run(args).and_then(|r| to_json(&r)),
        Command::Eval(args) => eval::run(args).and_then(|r| {
            eprint!("{}", r.table());
            to_json(&r)
        }),
        Command::Fit(args) => {
            let m = matches
                .subcommand_matches("fit")
                .expect("the fit subcommand");
            (**args)
                .clone()
                .resolve(m)
                .and_then(|args| fit::run(&args))
                .and_then(|r| to_json(&r))
        }
        Command::Transport(args) => transport::run(args).and_then(|r| to_json(&r)),
        Command::Plot(args) => plot::run(args).and_then(|r| to_json(&r)),
        Command::Demo(args) => demo::run(args).and_then(|r| to_json(&r)),
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
