//! `genot`: generative entropic neural optimal transport from the command line.
//!
//! Subcommands: `solve` (discrete entropic OT between two point clouds).

mod error;
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
    Solve(solve::SolveArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: Result<String, CliError> = match &cli.command {
        Command::Solve(args) => solve::run(args).and_then(|r| {
            serde_json::to_string(&r)
                .map_err(|e| CliError::Run(format!("cannot encode the report: {e}")))
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
