//! `tandem-image`: builds Tandem's offline package repository, live system and boot media.
//! Exit codes as `tandem`: 0 success, 2 invalid input (e.g. an answer embed-answer
//! rejects), 1 anything else.

// Package repository (fetch, closure-check).
mod package;
// Boot media (build, embed-answer, package, man).
mod media;
mod pipeline;

use media::{deb, embed};
use package::{closure, fetch};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tandem-image", version = tandem::VERSION, about)]
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
    /// Build the base image, live system, hybrid ISO and PXE artifacts.
    Build(Box<pipeline::BuildArgs>),
    /// Validate an answer file and embed it into a copy of an ISO at /tandem/answer.toml.
    EmbedAnswer(embed::EmbedArgs),
    /// Build the tandem Debian package (tandem_VERSION_amd64.deb) from a static binary.
    Package(deb::PackageArgs),
    /// Write the man pages of tandem (section 8) and tandem-image (section 1) into a directory.
    Man(deb::ManArgs),
}

/// tandem-image's own command line (its man page is generated from it).
fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

fn main() -> ExitCode {
    let cli: Cli = match tandem::error::parse_args() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Fetch(args) => fetch::run(&args),
        Command::ClosureCheck(args) => closure::run(&args),
        Command::Build(args) => pipeline::run(&args),
        Command::EmbedAnswer(args) => embed::run(&args),
        Command::Package(args) => deb::run(&args),
        Command::Man(args) => deb::write_man(&args, command()),
    };
    tandem::error::exit_code(result, "error")
}
