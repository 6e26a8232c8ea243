//! The `inferx` command-line tool.

use std::process::ExitCode;

fn main() -> ExitCode {
    inferx::main_entry()
}
