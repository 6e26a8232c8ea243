//! `inferx test`: validates a project, builds it, runs its tests, and predicts its sample
//! inputs with the binary it built, one stage after the other, stopping at the first failure.

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::Instant,
};

use anyhow::Context;
use serde::Serialize;

use super::validate::{validate, Severity, ValidateOptions};
use crate::{
    cli::TestArgs,
    generator::{add_server, SAMPLES_DIR},
    output::Printer,
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Serialize)]
struct Stage {
    name: &'static str,
    status: Status,
    seconds: f64,
    /// One line on what happened.
    detail: String,
    /// What the stage printed, when it failed (or the predictions, for `predict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<serde_json::Value>,
}

pub(crate) fn run(args: TestArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let dir = super::folder_or_current(args.project)?;
    let project = add_server::read_project(&dir)?;
    let images = if args.images.is_empty() {
        let samples = dir.join(SAMPLES_DIR);
        if samples.is_dir() {
            vec![samples]
        } else {
            Vec::new()
        }
    } else {
        args.images
    };
    let profile = if args.release { "release" } else { "debug" };
    let release = if args.release { " --release" } else { "" };
    let bar = printer.spinner("validate", "inferx.yaml, the model and the files");
    let mut stages = Vec::new();
    let mut report = |stage: Stage, printer: &Printer| {
        if !args.json {
            let mark = match stage.status {
                Status::Passed => "ok",
                Status::Failed => "FAILED",
                Status::Skipped => "skipped",
            };
            let line = format!("{:<9} {mark:<7} {:>6.1} s  {}", stage.name, stage.seconds, stage.detail);
            printer.status_above(&bar, line);
        }
        let failed = matches!(stage.status, Status::Failed);
        stages.push(stage);
        !failed
    };
    let running = |step: &str, what: String| {
        bar.set_prefix(step.to_string());
        bar.set_message(what);
    };

    let passed = report(validate_stage(&dir), printer)
        && {
            running("build", format!("cargo build{release} (a first build takes a few minutes)"));
            report(cargo_stage("build", &dir, &["build", "--quiet"], args.release)?, printer)
        }
        && {
            running("tests", format!("cargo test{release}"));
            report(cargo_stage("tests", &dir, &["test"], args.release)?, printer)
        }
        && {
            running("predict", format!("{} predict", project.name));
            report(predict_stage(&dir, &project.name, profile, &images, args.json)?, printer)
        };
    bar.finish_and_clear();

    if args.json {
        printer.out(serde_json::to_string_pretty(&serde_json::json!({
            "project": project.name,
            "passed": passed,
            "stages": stages,
        }))?)?;
    } else {
        for stage in &stages {
            if let (Status::Failed, Some(serde_json::Value::String(output))) = (&stage.status, &stage.output) {
                printer.out(output)?;
            }
        }
        if let Some(Stage { output: Some(serde_json::Value::String(lines)), .. }) =
            stages.iter().find(|stage| stage.name == "predict")
        {
            printer.out(lines.trim_end())?;
        }
    }
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn validate_stage(dir: &Path) -> Stage {
    let started = Instant::now();
    let report = validate(dir, ValidateOptions { load_model: true });
    let (errors, warnings) = (report.count(Severity::Error), report.count(Severity::Warning));
    let findings: Vec<String> = report
        .findings
        .iter()
        .map(|finding| format!("{:?}[{}]: {} (fix: {})", finding.severity, finding.rule, finding.message, finding.fix))
        .collect();
    Stage {
        name: "validate",
        status: if errors > 0 { Status::Failed } else { Status::Passed },
        seconds: started.elapsed().as_secs_f64(),
        detail: format!("{errors} error(s), {warnings} warning(s)"),
        output: (!findings.is_empty()).then(|| findings.join("\n").into()),
    }
}

/// Runs `cargo ARGS` in the project; the summary line counts tests when there are any.
fn cargo_stage(name: &'static str, dir: &Path, args: &[&str], release: bool) -> anyhow::Result<Stage> {
    let started = Instant::now();
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.args(args).current_dir(dir);
    if release {
        command.arg("--release");
    }
    let output = command.output().with_context(|| format!("could not run `cargo {}`", args.join(" ")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (passed, failed) = count_tests(&stdout);
    let detail = match (name, output.status.success()) {
        ("tests", true) => format!("{passed} passed"),
        ("tests", false) => format!("{failed} failed, {passed} passed"),
        (_, true) => "compiled".to_string(),
        (_, false) => format!("`cargo {}` failed", args.join(" ")),
    };
    Ok(Stage {
        name,
        status: if output.status.success() { Status::Passed } else { Status::Failed },
        seconds: started.elapsed().as_secs_f64(),
        detail,
        output: (!output.status.success()).then(|| format!("{stdout}{stderr}").into()),
    })
}

/// Sums libtest's `test result: ok. N passed; M failed;` lines.
fn count_tests(stdout: &str) -> (usize, usize) {
    let number_before = |line: &str, word: &str| -> usize {
        line.split(';')
            .find_map(|part| part.trim().strip_suffix(word)?.split_whitespace().last()?.parse().ok())
            .unwrap_or(0)
    };
    stdout.lines().filter(|line| line.starts_with("test result:")).fold((0, 0), |(passed, failed), line| {
        (passed + number_before(line, " passed"), failed + number_before(line, " failed"))
    })
}

/// Predicts `images` with the binary just built, as a user would run it.
fn predict_stage(dir: &Path, name: &str, profile: &str, images: &[PathBuf], json: bool) -> anyhow::Result<Stage> {
    let started = Instant::now();
    if images.is_empty() {
        return Ok(Stage {
            name: "predict",
            status: Status::Skipped,
            seconds: 0.0,
            detail: format!("no sample inputs: put images in {SAMPLES_DIR}/ or pass --images"),
            output: None,
        });
    }
    // From the project folder, as cargo built it: a relative CARGO_TARGET_DIR resolves there.
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(dir)
        .manifest_path(dir.join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("could not read the project's target folder with `cargo metadata`")?;
    let binary = metadata.target_directory.as_std_path().join(profile).join(name);
    let mut command = Command::new(&binary);
    command.current_dir(dir).arg("predict").args(images);
    if json {
        command.arg("--json");
    }
    let output = command.output().with_context(|| format!("could not run `{}`", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let success = output.status.success();
    let (detail, printed) = if json && success {
        let records: serde_json::Value = serde_json::from_str(&stdout)
            .context("the project's `predict --json` printed something other than JSON")?;
        let count = records.as_array().map_or(0, Vec::len);
        (format!("{count} image(s) predicted"), records)
    } else if success {
        (format!("{} image(s) predicted", stdout.lines().count()), stdout.into())
    } else {
        ("`predict` failed".to_string(), format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)).into())
    };
    Ok(Stage {
        name: "predict",
        status: if success { Status::Passed } else { Status::Failed },
        seconds: started.elapsed().as_secs_f64(),
        detail,
        output: Some(printed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_counts_are_summed_over_every_test_binary() {
        let stdout = "running 2 tests\ntest a ... ok\n\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.1s\n\ntest result: FAILED. 1 passed; 3 failed; 0 ignored\n";
        assert_eq!(count_tests(stdout), (3, 3));
        assert_eq!(count_tests("nothing"), (0, 0));
    }
}
