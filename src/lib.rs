//! InferX: turn an ONNX vision model into a standalone Rust inference project.
//!
//! The binary is a thin wrapper around [`main_entry`]. No other crate uses the modules, so
//! they are the crate's own; their imports run down these layers (tests/runtime/layers.rs
//! checks it):

// 1. Printing results and progress.
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
    init_tracing(cli.verbose, cli.quiet);
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

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,ort=warn",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("INFERX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .compact()
        .init();
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
