//! `inferx validate`: one line per finding with its severity and fix; non-zero exit on errors.

use std::process::ExitCode;

mod checks;

pub(crate) use checks::{validate, Severity, ValidateOptions};

use crate::{cli::ValidateArgs, output::Printer};

pub(crate) fn run(args: ValidateArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let dir = super::folder_or_current(args.project)?;
    let report = validate(&dir, ValidateOptions { load_model: !args.no_load });
    let errors = report.count(Severity::Error);
    if args.json {
        printer.out(serde_json::to_string_pretty(&report)?)?;
    } else {
        for finding in &report.findings {
            let severity = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            printer.out(format!("{severity}[{}]: {}\n  fix: {}", finding.rule, finding.message, finding.fix))?;
        }
        printer.status(format!(
            "{}: {} checked, {errors} error(s), {} warning(s)",
            dir.display(),
            report.checked.join(", "),
            report.count(Severity::Warning)
        ));
    }
    Ok(if errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
