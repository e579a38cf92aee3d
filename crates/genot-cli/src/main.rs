//! `genot`: generative entropic neural optimal transport from the command line.
//!
//! Subcommands: `solve` (discrete entropic OT between two point clouds), `eval` (metrics
//! between predicted and observed points).

mod error;
mod eval;
mod io;
mod solve;

use clap::{Parser, Subcommand};
use error::CliError;

#[derive(Debug, Parser)]
#[command(
    name = "genot",
    version,
    about = "Generative entropic neural optimal transport"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Solve a discrete entropic OT problem between two point clouds (Sinkhorn) and print
    /// a JSON report on stdout.
    Solve(Box<solve::SolveArgs>),
    /// Compare predicted points with observed targets: Sinkhorn divergence, energy distance,
    /// RBF MMD, FOSCTTM (--paired), label transfer accuracy (--pred-labels/--target-labels).
    /// JSON on stdout, a table on stderr.
    Eval(eval::EvalArgs),
}

fn to_json(report: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string(report)
        .map_err(|e| CliError::Run(format!("cannot encode the report: {e}")))
}

fn main() {
    let cli = Cli::parse();
    let result: Result<String, CliError> = match &cli.command {
        Command::Solve(args) => solve::run(args).and_then(|r| to_json(&r)),
        Command::Eval(args) => eval::run(args).and_then(|r| {
            eprint!("{}", r.table());
            to_json(&r)
        }),
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
