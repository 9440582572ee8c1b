//! tandem-image: builds Tandem's boot media. Exit codes as `tandem`: 0 success, 2 invalid
//! input, 1 anything else.

mod base;
mod embed;
mod iso;
mod live;
mod pipeline;
mod pxe;
mod rootfs;
mod sets;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "tandem-image", version, about = "Builds Tandem's boot media")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the base image, live system, hybrid ISO and PXE artifacts.
    Build(Box<pipeline::BuildArgs>),
    /// Validate an answer file and embed it into a copy of an ISO at /tandem/answer.toml.
    EmbedAnswer(embed::EmbedArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match &cli.command {
        Command::Build(a) => pipeline::run(a),
        Command::EmbedAnswer(a) => embed::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ie) = e.downcast_ref::<tandem::cli::InputError>() {
                eprintln!("{ie}");
                ExitCode::from(2)
            } else {
                eprintln!("tandem-image: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}
