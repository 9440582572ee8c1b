//! `tandem`: a thin command line over the library's domain modules.

use std::process::ExitCode;

fn main() -> ExitCode {
    tandem::cli::main()
}
