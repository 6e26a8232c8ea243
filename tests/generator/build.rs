//! A generated `yolo` project with the real detector builds on its own, predicts the same
//! detections as `inferx run` and the reference goldens, and passes its own tests.

use std::{path::Path, process::Command};

use inferx_runtime::ProjectConfig;

use crate::support::*;

/// One target folder for every generated project, so dependencies compile once.
pub(crate) fn shared_target() -> std::path::PathBuf {
    std::env::var_os("INFERX_GENERATED_TARGET_DIR").map_or_else(|| repo().join("target/generated"), Into::into)
}

pub(crate) fn cargo(project: &Path, args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "`cargo {}` failed in the generated project:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The target triple of this machine (`rustc -vV`).
fn host_triple() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let output = Command::new("rustc").arg("-vV").output().expect("rustc runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines().find_map(|line| line.strip_prefix("host: ")).expect("rustc -vV names the host").to_string()
    })
}

/// How a test project gets its `inferx-runtime`.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Runtime {
    /// Its own vendored `runtime/`, as a user builds it.
    Vendored,
    /// One copy shared by the task tests, checked to be byte for byte the project's own.
    Shared,
}

/// Points `project` at one shared copy of its vendored runtime. Cargo keys a path dependency
/// by its path, so every project's own copy compiles again (minutes each); the task tests
/// share one instead, after checking it holds exactly the project's files. The standalone
/// build (`generated_yolo_project_builds_predicts_and_passes_its_tests`) and the quick start
/// keep their own.
pub(crate) fn share_runtime(project: &Path) {
    static SHARED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SHARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let vendored = file_tree(&project.join("runtime"));
    let shared = shared_target().join("shared-runtime");
    // Rewritten only when it differs: unchanged files keep their times and cargo its build.
    if !shared.exists() || file_tree(&shared) != vendored {
        let _ = std::fs::remove_dir_all(&shared);
        for (relative, contents) in &vendored {
            write(&shared.join(relative), contents);
        }
    }
    let manifest = project.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let vendored_path = "inferx-runtime = { path = \"runtime\"";
    assert!(text.contains(vendored_path), "the generated Cargo.toml vendors the runtime:\n{text}");
    let shared_path = format!("inferx-runtime = {{ path = {:?}", shared.display().to_string());
    std::fs::write(&manifest, text.replace(vendored_path, &shared_path)).unwrap();
}

/// Generates `template` with `model` into a fresh folder, applies `configure` to its
/// `inferx.yaml`, and builds it against the shared runtime with the lock it was generated
/// with (`--locked --offline`).
pub(crate) fn build_project(
    template: &str,
    name: &str,
    model: &Path,
    configure: impl FnOnce(&mut ProjectConfig),
) -> (tempfile::TempDir, std::path::PathBuf) {
    build_project_with(template, name, model, &[], Runtime::Shared, configure)
}

/// [`build_project`] with extra `inferx template` flags (`--api`) and a choice of runtime.
pub(crate) fn build_project_with(
    template: &str,
    name: &str,
    model: &Path,
    flags: &[&str],
    runtime: Runtime,
    configure: impl FnOnce(&mut ProjectConfig),
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = temp_dir();
    inferx()
        .args(["template", template, "--name", name, "--dir"])
        .arg(dir.path())
        .arg("--model")
        .arg(model)
        .args(flags)
        .assert()
        .success();
    let project = dir.path().join(name);
    let config_path = project.join("inferx.yaml");
    let mut config = ProjectConfig::load(&config_path).expect("generated config loads");
    let generated = config.clone();
    configure(&mut config);
    // Rewrite only when changed, so an unconfigured project stays exactly as generated.
    if config != generated {
        std::fs::write(&config_path, config.to_yaml().unwrap()).unwrap();
    }
    // The lock it was generated with, unchanged, from the local crate cache: generation and
    // the build need no network once the crates are there (`cargo fetch` gets any missing,
    // for this machine only). A runtime shared from outside the project is no workspace
    // member, so cargo drops its dev- and optional dependencies from the lock: those builds
    // may prune it (the vendored ones prove `--locked`).
    let locked = if runtime == Runtime::Shared {
        share_runtime(&project);
        None
    } else {
        Some("--locked")
    };
    let fetch = ["fetch", "--quiet", "--target", host_triple()];
    cargo(&project, &fetch.into_iter().chain(locked).collect::<Vec<_>>());
    cargo(&project, &["build", "--quiet", "--offline"].into_iter().chain(locked).collect::<Vec<_>>());
    (dir, project)
}

/// A val report without its timings (they differ run to run).
fn without_timings(mut report: serde_json::Value) -> serde_json::Value {
    let fields = report.as_object_mut().expect("val --json prints an object");
    assert!(fields.remove("speed_ms").is_some() && fields.remove("images_per_second").is_some(), "timings in {report}");
    report
}

/// The project's `val` prints what `inferx val PROJECT` prints on the same set (one loop, the
/// runtime's); the `val` command of its CI files, run as shipped with its floor above and
/// below the measured mAP, fails naming both figures, then passes.
fn project_val_equals_inferx_val_and_its_ci_gate_fails_below_the_floor(project: &Path, binary: &Path) {
    // The set of `scripts/reference_val.py sets` (the detector's faces), committed as val/.
    let sets = temp_dir();
    let python = repo().join(".venv-ref/bin/python");
    assert!(python.exists(), "`.venv-ref` is missing: run `bash scripts/reference-env.sh`");
    let made = Command::new(python).arg(repo().join("scripts/reference_val.py")).arg("sets").arg(sets.path()).output();
    assert!(made.unwrap().status.success(), "reference_val.py sets");
    let val = project.join("val");
    assert!(val.join("README.md").is_file(), "the generator writes val/ with a README saying what goes there");
    for (relative, contents) in file_tree(&sets.path().join("yolo")) {
        write(&val.join(relative), contents);
    }
    let run = |args: &[&str]| Command::new(binary).current_dir(project).args(args).output().unwrap();
    let generated = run(&["val", "--data", "val", "--json"]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let generated: serde_json::Value = serde_json::from_slice(&generated.stdout).unwrap();
    let reference = run_json(inferx().arg("val").arg(project).arg("--data").arg(&val).arg("--json"));
    assert_eq!(generated["images"], 9, "{generated}");
    assert_eq!(without_timings(generated.clone()), without_timings(reference));
    let measured = generated["metrics"]["map50_95"].as_f64().unwrap();
    assert!(measured > 0.05, "the detector finds some of the faces: {generated}");

    // The gate: the command after `cargo run ... --` in each CI file, the same in both.
    let command_of = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(project.join(file)).unwrap();
        let line = text.lines().find(|line| line.contains(" -- val ")).unwrap_or_else(|| panic!("no val in {text}"));
        line.split_once(" -- ").unwrap().1.split_whitespace().map(str::to_string).collect()
    };
    let command = command_of(".github/workflows/accuracy.yml");
    assert_eq!(command, command_of(".gitlab-ci.yml"));
    let floor_at = command.iter().position(|arg| arg == "--min-map").expect("a detector's gate is --min-map") + 1;
    let with_floor = |floor: f64| {
        let mut args = command.clone();
        args[floor_at] = format!("{floor:.4}");
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let above = with_floor(measured + 0.01);
    let stderr = String::from_utf8_lossy(&above.stderr);
    assert_eq!(above.status.code(), Some(1), "a floor above the measured mAP fails the gate: {stderr}");
    let expected = format!("mAP50-95 {measured:.4} is below --min-map {:.4}", measured + 0.01);
    assert!(stderr.contains(&expected), "both figures printed: {stderr}");
    assert!(String::from_utf8_lossy(&above.stdout).contains("mAP50-95"), "the report is printed too");
    let below = with_floor(measured - 0.01);
    assert!(
        below.status.success(),
        "a floor below the measured mAP passes: {}",
        String::from_utf8_lossy(&below.stderr)
    );
}

#[test]
fn generated_yolo_project_builds_predicts_and_passes_its_tests() {
    let model = detector();
    let (_guard, project) = build_project_with("yolo", "detect-app", &model, &[], Runtime::Vendored, |_| {});
    cargo(&project, &["fmt", "--check"]);
    let binary = shared_target().join("debug/detect-app");
    let output =
        Command::new(&binary).current_dir(&project).arg("predict").arg(images()).arg("--json").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let generated: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let reference = run_json(inferx().arg("run").arg(&model).arg(images()).args(["--size", "320", "--json"]));
    let golden = golden("detection_nudenet-320n_320.json");
    let records = generated.as_array().unwrap();
    assert_eq!(records.len(), reference.as_array().unwrap().len());
    for (record, cli_record) in records.iter().zip(reference.as_array().unwrap()) {
        assert_eq!(record["image"], cli_record["image"]);
        let image = Path::new(record["image"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        assert_same_detections(&image, &detections_of(record), &detections_of(cli_record), 1e-5, 1e-2);
        if image.ends_with(".png") {
            assert_same_detections(&image, &detections_of(record), &golden_detections(&golden, &image), 1e-3, 1.0);
        }
    }

    let info = Command::new(&binary).current_dir(&project).arg("info").output().unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["device"], "cpu");
    assert_eq!(info["task"], "detection");

    // `predict --track`: the same JSON Lines as `inferx run --track` (one record type, in the
    // runtime), the ids on the same boxes.
    let clip = temp_dir();
    let frames = face_clip(clip.path(), 8, 30);
    let tracked = json_lines(
        &Command::new(&binary)
            .current_dir(&project)
            .arg("predict")
            .arg(&frames)
            .args(["--track", "--json"])
            .output()
            .unwrap(),
    );
    let reference = json_lines(
        &inferx().arg("run").arg(&model).arg(&frames).args(["--size", "320", "--track", "--json"]).output().unwrap(),
    );
    assert_eq!(tracked.len(), 8);
    for (record, cli_record) in tracked.iter().zip(&reference) {
        assert_eq!((&record["frame"], &record["pts_ms"]), (&cli_record["frame"], &cli_record["pts_ms"]));
        let ids = |record: &serde_json::Value| -> Vec<serde_json::Value> {
            record["detections"].as_array().unwrap().iter().map(|d| d["track_id"].clone()).collect()
        };
        assert_eq!(ids(record), ids(cli_record), "{record}\n{cli_record}");
        assert!(!ids(record).is_empty(), "the face is tracked on every frame: {record}");
        assert_same_detections("a frame", &detections_of(record), &detections_of(cli_record), 1e-5, 1e-2);
    }

    project_val_equals_inferx_val_and_its_ci_gate_fails_below_the_floor(&project, &binary);

    // `inferx test`: validate, build, the project's own tests, then its samples/ predicted by
    // the binary it built: the sample photo the template ships, and two of ours.
    let shipped = project.join("samples/sample.jpg");
    assert!(shipped.is_file(), "the template ships a sample photo");
    let shipped_reference = run_json(inferx().arg("run").arg(&model).arg(&shipped).args(["--size", "320", "--json"]));
    let samples = ["astronaut.png", "rocket.jpg"];
    for sample in samples {
        write(&project.join("samples").join(sample), std::fs::read(images().join(sample)).unwrap());
    }
    let inferx_test = || {
        let output = inferx()
            .arg("test")
            .arg(&project)
            .arg("--json")
            .env("CARGO_TARGET_DIR", shared_target())
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stderr)));
        (output.status.success(), summary)
    };
    let (passed, summary) = inferx_test();
    assert!(passed, "{summary:#}");
    let stages: Vec<(&str, &str)> = summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| (stage["name"].as_str().unwrap(), stage["status"].as_str().unwrap()))
        .collect();
    assert_eq!(stages, [("validate", "passed"), ("build", "passed"), ("tests", "passed"), ("predict", "passed")]);
    assert_eq!(summary["stages"][2]["detail"], "2 passed", "the smoke tests ran");
    let predicted = summary["stages"][3]["output"].as_array().unwrap();
    assert_eq!(predicted.len(), samples.len() + 1);
    for record in predicted {
        let name = Path::new(record["image"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        if name == "sample.jpg" {
            let reference = shipped_reference.as_array().map_or(&shipped_reference, |records| &records[0]);
            let expected = detections_of(reference);
            assert!(!expected.is_empty(), "the shipped sample shows the detector at work");
            assert_same_detections(&name, &detections_of(record), &expected, 1e-5, 1e-2);
            continue;
        }
        let earlier = records.iter().find(|earlier| earlier["image"].as_str().unwrap().ends_with(&name)).unwrap();
        assert_same_detections(&name, &detections_of(record), &detections_of(earlier), 1e-5, 1e-2);
    }
    // A failing test stops `inferx test` at the tests stage, and its output names the test.
    let failing = project.join("tests/failing.rs");
    write(&failing, "#[test]\nfn a_deliberately_failing_test() {\n    assert_eq!(1, 2);\n}\n");
    let (passed, summary) = inferx_test();
    assert!(!passed);
    assert_eq!(summary["stages"].as_array().unwrap().len(), 3, "stops after the failing stage");
    assert_eq!(summary["stages"][2]["status"], "failed");
    assert!(summary["stages"][2]["output"].as_str().unwrap().contains("a_deliberately_failing_test"));
    std::fs::remove_file(failing).unwrap();

    cargo(&project, &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"]);
}
