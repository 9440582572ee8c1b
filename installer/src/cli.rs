//! The command line: parses the arguments (defined in [`crate::args`]) and dispatches to
//! the command that runs them. Exit codes ([`crate::error::exit_code`]): 0 success,
//! 2 invalid input or usage, 1 anything else, 130 the user quit.

use crate::args::{Cli, Command, DiskCommand, FirstBootCommand};
use crate::error::{self, InputError};
use crate::{commands, drbdctl, node};
use anyhow::Result;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli: Cli = match error::parse_args() {
        Ok(c) => c,
        Err(code) => return code,
    };
    error::exit_code(run(cli), "tandem")
}

fn run(cli: Cli) -> Result<()> {
    let Some(command) = cli.command else {
        return bare();
    };
    match command {
        Command::Validate {
            answer,
            hardware,
            node,
        } => commands::validate(&answer, hardware.as_deref(), node),
        Command::Schema => commands::schema(),
        Command::Plan {
            answer,
            hardware,
            node,
            json,
        } => commands::plan(&answer, &hardware, node, json),
        Command::Render {
            answer,
            hardware,
            node,
            out,
        } => commands::render(&answer, &hardware, node, &out),
        Command::Prepare { answer, output } => commands::prepare(&answer, output.as_deref()),
        Command::EspSync {
            source,
            list,
            by_uuid,
            quiet,
        } => commands::esp_sync::run(&source, &list, &by_uuid, quiet),
        Command::Wizard {
            hardware,
            save_answer,
        } => commands::wizard(hardware.as_deref(), save_answer),
        Command::Detect(args) => commands::detect::run(args),
        Command::Install(args) => commands::install::run(args),
        Command::DrbdStart {
            config,
            state_dir,
            log,
        } => drbdctl::start(&config, &state_dir, &log),
        Command::DrbdStop { config, log } => drbdctl::stop(&config, &log),
        Command::FirstBoot(FirstBootCommand::Run { stage }) => node::first_boot::command(stage),
        Command::Status {
            json,
            format,
            textfile_dir,
            sysroot,
        } => {
            let format = if json { node::Format::Json } else { format };
            node::status_command(&sysroot, format, &textfile_dir)
        }
        Command::Disk(DiskCommand::Replace(args)) => node::replace_command(args),
    }
}

/// Plain `tandem`: a person at the console wants to install; anything else gets the help.
fn bare() -> Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        crate::args::command().print_help()?;
        return Err(InputError::Other("\nno command given".into()).into());
    }
    commands::install::bare()
}
