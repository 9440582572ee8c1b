//! The failures that end a command with an exit code other than 1, and the one mapping from
//! a command's result to its exit code, which both binaries use: 0 success, 1 failure,
//! 2 bad input or usage (nothing touched), 130 the user quit.

use crate::answer::Diagnostics;
use clap::Parser;
use std::process::ExitCode;

/// A failure that is the input's fault: exit code 2, nothing was touched.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Answer(#[from] Diagnostics),
    #[error("{0}")]
    Other(String),
}

/// A refusal that is the input's fault (a wrong disk, not a node): exit code 2, nothing was
/// touched.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The node is not healthy: exit code 1, after the report was printed.
#[derive(Debug, thiserror::Error)]
#[error("the node is not healthy")]
pub struct Unhealthy;

/// The user quit (Ctrl-C) before the erase confirmation: nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("aborted, nothing written")]
pub struct Aborted;

/// Parses the command line; on failure prints clap's text and gives the exit code: 2 for a
/// usage error, 0 for --help and --version.
pub fn parse_args<C: Parser>() -> Result<C, ExitCode> {
    C::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// Prints a command's failure (other failures are prefixed with `program`) and gives its
/// exit code.
pub fn exit_code(result: anyhow::Result<()>, program: &str) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    if let Some(a) = e.downcast_ref::<Aborted>() {
        eprintln!("\n{a}");
        ExitCode::from(130)
    } else if let Some(ie) = e.downcast_ref::<InputError>() {
        eprintln!("{ie}");
        ExitCode::from(2)
    } else if let Some(r) = e.downcast_ref::<Refused>() {
        eprintln!("{program}: {r}");
        ExitCode::from(2)
    } else if e.downcast_ref::<Unhealthy>().is_some() {
        ExitCode::from(1)
    } else {
        eprintln!("{program}: {e:#}");
        ExitCode::from(1)
    }
}
