//! The `moorctl` binary: parse, run, report. Everything else is in the `moor_ctl` library.
//!
//! Exit codes (see `moorctl --help` and ctl/README.md): 0 ok, 1 error, 2 usage error, 3 not
//! found, 4 compare-and-swap failed, 5 unavailable (nothing applied), 6 outcome unknown, 7 the
//! watched execution did not succeed, 8 refused by access control, 9 `env diff` found
//! differences.

use std::process::ExitCode;

use moor_ctl::cli::Cli;
use moor_ctl::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse_validated();
    match moor_ctl::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("{}", moor_ctl::report(&err));
            ExitCode::from(Exit::of_error(&err).code())
        }
    }
}
