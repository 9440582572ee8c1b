//! `tandem-image`: builds Tandem's offline package repository, live system and boot media.

mod cache;
mod closure;
mod deb822;
mod fetch;
mod net;
mod profile;
mod relation;
mod release;
mod repo;
mod resolve;
mod source;
#[cfg(test)]
mod testrepo;
mod version;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tandem-image", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve a profile's package sets, download and verify them, write the medium's apt repository.
    Fetch(fetch::FetchArgs),
    /// Compare the resolver's closure with apt's on the same verified indexes.
    ClosureCheck(closure::ClosureCheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fetch(args) => fetch::run(&args),
        Command::ClosureCheck(args) => closure::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
