//! The template registry from the outside: a template is one folder with a `template.toml`,
//! and a folder named by `INFERX_TEMPLATES_DIR` adds templates without rebuilding inferx.

use crate::support::*;

/// A templates folder holding one throwaway template.
fn throwaway_templates() -> tempfile::TempDir {
    let dir = temp_dir();
    write(
        &dir.path().join("throwaway/template.toml"),
        "# A template made for this test.\ndescription = \"Throwaway template for the registry test\"\ntask = \"classification\"\n",
    );
    write(&dir.path().join("throwaway/src/hello.txt.tera"), "Hello from {{ project_name }}, a {{ task }} project\n");
    dir
}

#[test]
fn a_template_dropped_into_a_templates_folder_is_in_help_and_generates_a_project() {
    let templates = throwaway_templates();
    let help = inferx().args(["template", "--help"]).env("INFERX_TEMPLATES_DIR", templates.path()).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let listed = |name: &str, description: &str| {
        help.lines().any(|line| line.trim_start().starts_with(&format!("- {name}:")) && line.contains(description))
    };
    assert!(listed("throwaway", "Throwaway template for the registry test"), "{help}");
    assert!(listed("yolo", "YOLO object detection"), "the built-in templates stay: {help}");
    let plain = inferx().args(["template", "--help"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("throwaway"), "only with INFERX_TEMPLATES_DIR");

    let out = temp_dir();
    inferx()
        .args(["template", "throwaway", "--name", "demo", "--dir"])
        .arg(out.path())
        .env("INFERX_TEMPLATES_DIR", templates.path())
        .assert()
        .success();
    let project = out.path().join("demo");
    assert_eq!(
        std::fs::read_to_string(project.join("src/hello.txt")).unwrap(),
        "Hello from demo, a classification project\n"
    );
    let config = std::fs::read_to_string(project.join("inferx.yaml")).unwrap();
    assert!(config.contains("task: classification"), "{config}");
    let cargo = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("template = \"throwaway\""), "{cargo}");
}

#[test]
fn an_unknown_template_and_a_broken_manifest_are_named() {
    let templates = throwaway_templates();
    let output = inferx()
        .args(["template", "nope", "--name", "x"])
        .env("INFERX_TEMPLATES_DIR", templates.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("unknown template `nope`") && stderr.contains("throwaway, yolo"), "{stderr}");

    write(&templates.path().join("throwaway/template.toml"), "description = \"x\"\ntask = \"dancing\"\n");
    let out = temp_dir();
    let output = inferx()
        .args(["template", "yolo", "--name", "x", "--dir"])
        .arg(out.path())
        .env("INFERX_TEMPLATES_DIR", templates.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("template `throwaway` has a bad template.toml") && stderr.contains("dancing"), "{stderr}");
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none(), "nothing written");

    let output = inferx()
        .args(["template", "yolo", "--name", "x"])
        .env("INFERX_TEMPLATES_DIR", templates.path().join("missing"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("INFERX_TEMPLATES_DIR="), "{stderr}");
}
