//! One module per subcommand, each with `run(args, printer)`.

mod api;
mod benchmark;
mod devices;
mod docker;
mod init;
mod inspect;
mod model;
mod quantize;
mod run;
mod runtime;
mod template;
mod test_project;
mod track;
mod upgrade;
mod val;
mod validate;
mod video;

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;

use crate::{cli::Command, output::Printer};

/// Runs a parsed command.
pub fn dispatch(command: Command, printer: &Printer) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(args, printer),
        Command::Inspect(args) => inspect::run(args, printer).map(|()| ExitCode::SUCCESS),
        Command::Devices(args) => devices::run(args, printer).map(|()| ExitCode::SUCCESS),
        Command::Runtime(command) => runtime::run(command, printer).map(|()| ExitCode::SUCCESS),
        Command::Model(command) => model::run(command, printer).map(|()| ExitCode::SUCCESS),
        Command::Template(args) => template::run(args, printer).map(|()| ExitCode::SUCCESS),
        Command::Init(args) => init::run(args, printer).map(|()| ExitCode::SUCCESS),
        Command::Api(args) => api::run(args, printer).map(|()| ExitCode::SUCCESS),
        Command::Docker(args) => docker::run(args, printer).map(|()| ExitCode::SUCCESS),
        Command::Upgrade(args) => upgrade::run(args, printer).map(|()| ExitCode::SUCCESS),
        Command::Benchmark(args) => benchmark::run(args, printer),
        Command::Validate(args) => validate::run(args, printer),
        Command::Test(args) => test_project::run(args, printer),
        Command::Val(args) => val::run(args, printer),
        Command::Quantize(args) => quantize::run(args, printer),
    }
}

/// The folder a command works on: the one given, else the current folder.
fn folder_or_current(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir),
        None => std::env::current_dir().context("could not read the current folder"),
    }
}
