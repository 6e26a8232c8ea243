//! What a new user met in their first hour with the CLI (issue 30), each pinned so it stays
//! fixed: output through [`inferx_snapshot!`] where its wording matters, assertions where a
//! number or a file does.

use std::path::Path;

use crate::support::*;

fn photo() -> std::path::PathBuf {
    images().join("astronaut.png")
}

// Bug 1: an edited file whose template did not change is left alone, and an up-to-date project
// says so (no conflict, no `.new` copy with the old text).
#[test]
fn upgrading_an_up_to_date_project_with_an_edited_file_changes_nothing() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "edited-app", &[]);
    let main = project.join("src/main.rs");
    let edited = std::fs::read_to_string(&main).unwrap() + "\n// my own change\n";
    std::fs::write(&main, &edited).unwrap();
    let before = file_tree(&project);
    inferx_snapshot!("upgrade_up_to_date_with_an_edit", inferx().arg("upgrade").arg(&project));
    assert!(!project.join("src/main.rs.new").exists(), "no conflict copy for a file upstream did not change");
    assert_eq!(file_tree(&project), before, "nothing written");
}

// Bug 2: a project is benchmarked at its own size (the model's imgsz, 320), not at 640.
#[test]
fn a_project_and_a_model_are_benchmarked_at_their_own_size() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "sized-app", &[]);
    let flags = ["--iterations", "1", "--warmup", "0", "--json", "--no-history", "--e2e"];
    for target in [project.as_path(), detector().as_path()] {
        let report = run_json(inferx().arg("benchmark").arg(target).args(flags).arg(photo()));
        let results = report["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{report}");
        assert_eq!(results[0]["size"], 320, "{}: {report}", target.display());
        assert_eq!(results[0]["status"], "measured", "{report}");
    }
    // --size still chooses.
    let report = run_json(inferx().arg("benchmark").arg(&project).args(flags).arg(photo()).args(["--size", "256"]));
    assert_eq!(report["results"][0]["size"], 256, "{report}");
}

// Bug 3: no colour codes when stderr is not a terminal, even without NO_COLOR; JSON logs on
// request, with timestamps.
#[test]
fn logs_have_no_colour_off_a_terminal_and_can_be_json() {
    let output = inferx()
        .env_remove("NO_COLOR")
        .arg("run")
        .arg(detector())
        .arg(photo())
        .args(["--device", "cuda"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not usable"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "no ANSI escape codes in a pipe: {stderr:?}");

    let output = inferx()
        .env("INFERX_LOG_FORMAT", "json")
        .arg("run")
        .arg(detector())
        .arg(photo())
        .args(["--device", "cuda", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect();
    let warning = logs.iter().find(|log| log["level"] == "WARN").unwrap_or_else(|| panic!("a warning: {stderr}"));
    assert!(warning["fields"]["message"].as_str().unwrap().contains("`cuda` is not usable"), "{warning}");
    let timestamp = warning["timestamp"].as_str().expect("a timestamp");
    assert!(timestamp.len() >= 20 && timestamp.as_bytes()[10] == b'T', "RFC 3339: {timestamp}");

    let output = inferx().env("INFERX_LOG_FORMAT", "xml").args(["devices"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("INFERX_LOG_FORMAT"), "the variable is named");
}

// Bug 4: the fallback states one reason, and advice that fits this machine (it has no NVIDIA
// GPU: no `--gpu` install; Linux: no Core ML build).
#[test]
fn the_fallback_warning_gives_one_reason_and_advice_that_fits_the_machine() {
    let devices = run_json(inferx().args(["devices", "--json"]));
    let has_nvidia = devices["gpus"].as_array().unwrap().iter().any(|gpu| gpu["vendor"] == "nvidia");
    if has_nvidia {
        return; // The advice differs on a machine with an NVIDIA GPU; unit tests cover it.
    }
    let output = inferx_snapshot!(
        "fallback_without_a_gpu",
        inferx().arg("run").arg(detector()).arg(photo()).args(["--device", "cuda", "--json"]),
        [WITHOUT_STDOUT]
    );
    assert!(output.status.success());
    for status in devices["providers"].as_array().unwrap() {
        let reason = status["reason"].as_str().unwrap();
        if status["provider"] == "cuda" || status["provider"] == "tensorrt" {
            assert!(!reason.contains("--gpu"), "{status}");
        }
        if status["provider"] == "coreml" && std::env::consts::OS != "macos" {
            assert_eq!(reason, format!("Core ML needs macOS (this is {})", std::env::consts::OS));
        }
    }
}

// Bug 8: with --config, the model is the project's `model.path` and every path is an image.
#[test]
fn run_with_a_config_takes_the_model_from_the_project() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "config-app", &[]);
    let config = project.join("inferx.yaml");
    let records = run_json(inferx().arg("run").arg("--config").arg(&config).arg(photo()).arg("--json"));
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    assert_astronaut_at_320(&records[0]);
    // A model named on the command line still wins (the form used so far).
    let records = run_json(inferx().arg("run").arg(detector()).arg(photo()).arg("--config").arg(&config).arg("--json"));
    assert_eq!(records.as_array().unwrap().len(), 1);
}

// Bug 9: a file that is not an image: the error once, naming the path once, no empty table.
#[test]
fn a_lone_file_that_is_not_an_image_prints_only_the_error() {
    let output = inferx_snapshot!(
        "run_on_a_file_that_is_not_an_image",
        inferx().current_dir(repo()).arg("run").arg(detector()).arg("README.md")
    );
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no table header for no results");
}

// Rough edge: a folder run ends with a summary line.
#[test]
fn a_folder_run_ends_with_a_summary() {
    let dir = temp_dir();
    for name in ["astronaut.png", "coffee.png"] {
        std::fs::copy(images().join(name), dir.path().join(name)).unwrap();
    }
    let output =
        inferx_snapshot!("run_on_a_folder", inferx().arg("run").arg(detector()).arg(dir.path()), [WITHOUT_STDOUT]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("astronaut.png") && table.contains("coffee.png"), "{table}");
}

// Rough edge: symbolic output dimensions read as names, with their value at the model's size.
#[test]
fn inspect_prints_symbolic_dimensions_readably() {
    let output = inferx_snapshot!("inspect_detector", inferx().arg("inspect").arg(detector()));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("floor("), "no raw shape expression");
}

// Rough edge: `next:` hints depend on the state: no `inferx runtime install` once it is.
#[test]
fn next_hints_skip_what_is_already_done() {
    let dir = temp_dir();
    let output = inferx()
        .args(["template", "yolo", "--name", "hinted", "--dir"])
        .arg(dir.path())
        .arg("--model")
        .arg(detector())
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("next:") && stderr.contains("cargo run --release"), "{stderr}");
    assert!(!stderr.contains("inferx runtime install"), "ONNX Runtime is installed here: {stderr}");
    assert!(!stderr.contains("cp /path/to/model.onnx"), "the model is in: {stderr}");

    let without_runtime = temp_dir();
    let output = inferx()
        .args(["template", "yolo", "--name", "hinted", "--dir"])
        .arg(dir.path().join("second"))
        .env("ORT_DYLIB_PATH", "")
        .env("INFERX_CACHE_DIR", without_runtime.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("inferx runtime install") && stderr.contains("cp /path/to/model.onnx"), "{stderr}");
}

fn assert_svg_renders_readably(svg_path: &Path) {
    let (all, png) = chart_texts_inside_canvas(svg_path);
    for needle in ["latency", "p50", "p99", "ms", "cpu"] {
        assert!(all.contains(needle), "`{needle}` in the chart's text: {all}");
    }
    // Rendered, it draws something in the title band and beside the bars (the legend).
    let image = image::load_from_memory(&png).unwrap().to_rgba8();
    let inked = |rows: std::ops::Range<u32>| {
        rows.flat_map(|y| (0..image.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y)[3] > 0)
            .count()
    };
    assert!(inked(0..30) > 100, "the title is drawn");
    std::fs::write(svg_path.with_extension("png"), png).unwrap();
}

// Bug 7: the chart is wide enough, with title, legend and axis units inside the canvas.
#[test]
fn the_benchmark_chart_renders_with_its_title_legend_and_units_visible() {
    let dir = temp_dir();
    let plot = dir.path().join("chart.svg");
    inferx()
        .arg("benchmark")
        .arg(detector())
        .args(["--iterations", "2", "--warmup", "0", "--no-history", "--plot"])
        .arg(&plot)
        .assert()
        .success();
    assert_svg_renders_readably(&plot);
}

// Bug 6: `inferx test` names the running stage with a ticking spinner and its elapsed time,
// and leaves only the stage lines on the screen (no stale bar copies). `cargo` is a stand-in
// script here (CARGO is what `inferx test` runs), so the stages take a known time.
#[cfg(unix)]
#[test]
fn inferx_test_shows_the_running_stage_and_leaves_a_clean_screen() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "staged-app", &[]);
    let _ = std::fs::remove_dir_all(project.join("samples"));
    let cargo = dir.path().join("fake-cargo");
    // `cargo metadata` (which `inferx test` reads the project with) is the real one.
    let real_cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\nif [ \"$1\" = metadata ]; then exec '{real_cargo}' \"$@\"; fi\nsleep 2\nif [ \"$1\" = test ]; then echo 'test result: ok. 2 passed; 0 failed; 0 ignored'; fi\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_inferx"));
    command.arg("test").arg(&project).env("CARGO", &cargo).env("NO_COLOR", "1").env("TERM", "xterm");
    command.env("INFERX_USER_CONFIG", "/nonexistent/inferx-test-user-config.yaml").env_remove("INFERX_LOG");
    let mut session = rexpect::session::spawn_command(command, Some(60_000)).unwrap();
    // While cargo builds, the spinner names the stage and what runs, with the time so far.
    let mut transcript = session.exp_string("cargo build").unwrap();
    transcript.push_str("cargo build");
    let (before, tick) = session.exp_regex(r"[0-9]s").unwrap();
    transcript.push_str(&before);
    transcript.push_str(&tick);
    assert!(!transcript.contains("build     ok"), "the spinner showed before the stage ended: {transcript:?}");
    transcript.push_str(&session.exp_eof().unwrap());
    // rexpect hands back each byte as a char; the screen is the pseudo-terminal's, 24x80.
    let bytes: Vec<u8> = transcript.chars().map(|c| c as u32 as u8).collect();
    let mut screen =
        vt100::Parser::new(std::num::NonZeroU16::new(24).unwrap(), std::num::NonZeroU16::new(80).unwrap(), 0);
    screen.process(&bytes);
    let rows: Vec<String> = screen.screen().rows(0, 80).map(|row| row.trim_end().to_string()).collect();
    let contents = rows.join("\n");
    let stages = ["validate", "build", "tests", "predict"];
    let stage_lines: Vec<&str> =
        rows.iter().map(String::as_str).filter(|row| stages.iter().any(|stage| row.starts_with(stage))).collect();
    assert_eq!(stage_lines.len(), 4, "one line per stage:\n{contents}");
    assert!(!contents.contains("cargo build") && !contents.contains("cargo test"), "no spinner left:\n{contents}");
    for (line, stage) in stage_lines.iter().zip(stages) {
        assert!(line.starts_with(stage), "`{stage}` line: {line}\n{contents}");
    }
    assert!(stage_lines[1].contains("ok") && stage_lines[2].contains("2 passed"), "{contents}");
}
