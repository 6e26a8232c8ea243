//! InferX: turn an ONNX vision model into a standalone Rust inference project.
//!
//! The binary is a thin wrapper around [`main_entry`]. No other crate uses the modules, so
//! they are the crate's own; their imports run down these layers (tests/runtime/layers.rs
//! checks it):

// 1. Printing results and progress; charts.
mod chart;
mod output;
// 2. The project generator: templates, rendering, upgrades.
mod generator;
// 3. The command line's arguments (template names come from the generator's registry).
mod cli;
// 4. One module per subcommand.
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// Parses arguments, sets up logging, runs the command, and maps the result to an exit code.
pub fn main_entry() -> ExitCode {
    // Before any thread starts: see its documentation.
    inferx_runtime::library::opt_out_of_telemetry();
    let cli = cli::Cli::parse();
    if let Err(error) = init_logging(cli.verbose, cli.quiet) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    let printer = output::Printer::new(cli.quiet);
    match commands::dispatch(cli.command, &printer) {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs on stderr: warnings by default, more with `-v`, errors only with `--quiet`; no
/// timestamps (a command run by hand), colour only on a terminal, `INFERX_LOG` and
/// `INFERX_LOG_FORMAT=json` as in generated projects (`inferx_runtime::logging`).
fn init_logging(verbose: u8, quiet: bool) -> inferx_runtime::Result<()> {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,ort=warn",
        (false, _) => "debug",
    };
    inferx_runtime::logging::LogSettings::from_environment(default, false)?.init();
    Ok(())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
