//! `inferx docker`: snapshots of the deployment files (CPU and GPU), the real linters and
//! renderers (hadolint, Helm, kubernetes-validate, compose semantics), a no-op second run, and
//! edits kept unless `--force`.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::support::*;

/// A project with the server, generated (not built) into `dir`.
pub(crate) fn api_project(dir: &Path, name: &str) -> PathBuf {
    inferx()
        .args(["template", "yolo", "--name", name, "--api", "--dir"])
        .arg(dir)
        .arg("--model")
        .arg(detector())
        .assert()
        .success();
    dir.join(name)
}

/// The files `inferx docker` wrote (those in its record), as one text.
fn deployment_files(project: &Path) -> String {
    let record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(project.join("deploy/.generated.json")).unwrap()).unwrap();
    let mut text = String::new();
    for path in record.keys() {
        text.push_str(&format!("==== {path} ====\n{}", std::fs::read_to_string(project.join(path)).unwrap()));
    }
    text
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => repo().join("snapshots"),
        prepend_module_to_snapshot => false,
        filters => vec![(r"(?i)(inferx) \d+\.\d+\.\d+", "$1 [VERSION]")],
    }, {
        insta::assert_snapshot!(name, text);
    });
}

pub(crate) fn check_deploy(project: &Path, gpu: bool) {
    let python = repo().join(".venv-tools/bin/python");
    assert!(
        python.is_file(),
        "the tools environment is missing: run `bash scripts/tools-env.sh` (scripts/test.sh does)"
    );
    let mut command = std::process::Command::new(python);
    command.arg(repo().join("scripts/check_deploy.py")).arg(project);
    if gpu {
        command.arg("--gpu");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "check_deploy failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn cpu_deployment_files_snapshot_and_pass_the_linters() {
    let dir = temp_dir();
    let project = api_project(dir.path(), "detect-api");
    inferx().args(["docker", "--skip-runtime"]).arg(&project).assert().success();
    snapshot("docker_default", &deployment_files(&project));
    let dockerfile = std::fs::read_to_string(project.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("cargo build --release --locked ") && dockerfile.contains("COPY Cargo.toml Cargo.lock ")
    );
    check_deploy(&project, false);
}

#[test]
fn gpu_deployment_files_snapshot_and_pass_the_linters() {
    let dir = temp_dir();
    let project = api_project(dir.path(), "detect-api");
    inferx()
        .args(["docker", "--gpu", "--registry", "ghcr.io/acme", "--tag", "1.2.3", "--skip-runtime"])
        .arg(&project)
        .assert()
        .success();
    snapshot("docker_gpu", &deployment_files(&project));
    check_deploy(&project, true);
}

#[test]
fn a_second_run_changes_nothing_and_edits_are_kept_unless_forced() {
    let dir = temp_dir();
    let project = api_project(dir.path(), "app");
    inferx().args(["docker", "--skip-runtime"]).arg(&project).assert().success();
    let first = deployment_files(&project);
    inferx()
        .args(["docker", "--skip-runtime"])
        .arg(&project)
        .assert()
        .success()
        .stderr(predicates::str::contains("nothing changed"));
    assert_eq!(deployment_files(&project), first);

    // Unedited files follow new options (here --gpu) without --force.
    inferx().args(["docker", "--skip-runtime", "--gpu"]).arg(&project).assert().success();
    assert!(std::fs::read_to_string(project.join("Dockerfile")).unwrap().contains("nvidia/cuda"));

    // An edited file is kept, with the diff shown, until --force.
    let dockerfile = project.join("Dockerfile");
    let edited = format!("# my tweak\n{}", std::fs::read_to_string(&dockerfile).unwrap());
    write(&dockerfile, &edited);
    let assert = inferx().args(["docker", "--skip-runtime"]).arg(&project).assert().failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("-# my tweak") && stderr.contains("would replace your edits in Dockerfile"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&dockerfile).unwrap(), edited, "nothing is written on a conflict");
    inferx().args(["docker", "--skip-runtime", "--force"]).arg(&project).assert().success();
    assert!(!std::fs::read_to_string(&dockerfile).unwrap().contains("my tweak"));
}

#[test]
fn projects_without_the_server_are_refused() {
    let dir = temp_dir();
    inferx().args(["template", "yolo", "--name", "plain", "--dir"]).arg(dir.path()).assert().success();
    inferx()
        .args(["docker", "--skip-runtime"])
        .arg(dir.path().join("plain"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("add it first with `inferx api`"));
    assert!(!dir.path().join("plain/Dockerfile").exists());

    // The image builds --locked: a project without a lock is told how to get one.
    let project = api_project(dir.path(), "unlocked");
    std::fs::remove_file(project.join("Cargo.lock")).unwrap();
    inferx()
        .args(["docker", "--skip-runtime"])
        .arg(&project)
        .assert()
        .failure()
        .stderr(predicates::str::contains("no Cargo.lock").and(predicates::str::contains("inferx upgrade")));
    assert!(!project.join("Dockerfile").exists());
}

/// `helm lint` of the chart with `values` (JSON), through helm-python-sdk: its errors, one a line.
fn helm_lint_errors(chart: &Path, values: &str) -> String {
    let script = "import json, sys\nimport helm_python as helm\nreport = helm.lint(sys.argv[1], values=json.loads(sys.argv[2]))\nerrors = [str(e) for e in report.get('errors') or []] + [str(m.get('error')) for m in report.get('messages') or [] if m.get('severity', 0) >= 3]\nprint('\\n'.join(errors))\ntry:\n    with helm.Chart.load(sys.argv[1]) as chart:\n        chart.render(json.loads(sys.argv[2]), name='x', namespace='default', is_install=True)\nexcept helm.HelmError as error:\n    print('install:', error)\n";
    let output = std::process::Command::new(repo().join(".venv-tools/bin/python"))
        .args(["-c", script])
        .arg(chart)
        .arg(values)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn the_helm_values_schema_refuses_a_wrong_type_and_a_misspelt_key() {
    let dir = temp_dir();
    let project = api_project(dir.path(), "schema-api");
    inferx().args(["docker", "--skip-runtime"]).arg(&project).assert().success();
    let chart = project.join("deploy/helm/schema-api");
    assert_eq!(helm_lint_errors(&chart, "{}"), "", "the defaults pass");
    let gpu = r#"{"gpu": {"enabled": true}, "server": {"device": "cuda"}, "replicaCount": 1}"#;
    assert_eq!(helm_lint_errors(&chart, gpu), "", "values-gpu's keys pass");
    for (values, names) in [
        (r#"{"replicaCount": "two"}"#, "replicaCount"),
        (r#"{"autoscaling": {"enabled": "yes"}}"#, "enabled"),
        (r#"{"server": {"port": "8080"}}"#, "port"),
        (r#"{"replicaCont": 3}"#, "replicaCont"),
    ] {
        let errors = helm_lint_errors(&chart, values);
        assert!(errors.contains("schema") && errors.contains(names), "{values}: {errors}");
        assert!(errors.contains("install:"), "helm install refuses it too: {values}: {errors}");
    }
    let ingress = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(ingress.contains("nginx.ingress.kubernetes.io/proxy-body-size: 16m"), "{ingress}");
}
