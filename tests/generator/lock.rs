//! Generated projects ship a `Cargo.lock` derived from inferx's own: the stored locks
//! (`templates/_lock/`) are what cargo makes of inferx's lock for a project, and a project
//! resolves with its lock unchanged (`--locked`) and without the network (`--offline`).

use std::path::Path;

use crate::support::*;

/// Generates `name` (with `flags`) into a fresh folder.
fn generated(name: &str, flags: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = temp_dir();
    inferx().args(["template", "yolo", "--name", name, "--dir"]).arg(dir.path()).args(flags).assert().success();
    let project = dir.path().join(name);
    (dir, project)
}

/// The name of the project's package in the stored locks (`LOCK_ROOT` in src/generator/lock.rs).
const LOCK_ROOT: &str = "inferx-project";

fn stored_lock(api: bool) -> std::path::PathBuf {
    repo().join(if api { "templates/_lock/Cargo-server.lock" } else { "templates/_lock/Cargo.lock" })
}

#[test]
fn the_stored_project_locks_are_what_cargo_derives_from_inferx_lock() {
    let update = std::env::var_os("INFERX_UPDATE_LOCKS").is_some();
    for api in [false, true] {
        let flags: &[&str] = if api { &["--api"] } else { &[] };
        let (_dir, project) = generated(LOCK_ROOT, flags);
        // Cargo keeps the versions of the lock it is given and drops the packages the project
        // does not use; only the workspace (the project and its runtime) is resolved again.
        std::fs::copy(repo().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
        crate::build::cargo(&project, &["update", "--workspace", "--offline", "--quiet"]);
        let derived = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
        let stored = stored_lock(api);
        if update {
            std::fs::write(&stored, &derived).unwrap();
        }
        let current = std::fs::read_to_string(&stored).unwrap();
        assert!(
            current == derived,
            "{} is not what cargo derives from inferx's Cargo.lock (api: {api}); rewrite it with `INFERX_UPDATE_LOCKS=1 cargo test --test generator lock::` and review the diff",
            stored.display()
        );
    }
}

/// `cargo update --workspace --locked --offline`: fails when the lock needs any change, and
/// reads only the local crate index.
fn assert_locked(project: &Path) {
    crate::build::cargo(project, &["update", "--workspace", "--locked", "--offline", "--quiet"]);
}

#[test]
fn a_generated_project_resolves_with_its_lock_unchanged_and_offline() {
    // Names sorted first and last among the locked packages: the project's package moves.
    for (name, flags) in [("aaa-app", &[][..]), ("zzz-app", &["--api"][..]), ("mid-app", &[][..])] {
        let (_dir, project) = generated(name, flags);
        let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
        assert!(lock.contains(&format!("\n[[package]]\nname = \"{name}\"\n")), "{name}");
        assert_locked(&project);
        assert_eq!(std::fs::read_to_string(project.join("Cargo.lock")).unwrap(), lock, "{name}: unchanged");
    }
}

#[test]
fn inferx_api_moves_the_lock_to_the_servers_and_a_stale_lock_is_refused_by_locked_builds() {
    let (_dir, project) = generated("lock-app", &[]);
    inferx().arg("api").arg(&project).assert().success();
    assert_locked(&project);
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"lock-app\"\nversion = \"0.1.0\"\ndependencies = [\n \"anyhow\",\n \"axum\","),
        "{lock}"
    );

    // A dependency added by hand: a --locked build (the image's) stops and says so.
    let manifest = project.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("[dependencies]\n", "[dependencies]\nitoa = \"1\"\n")).unwrap();
    let output = std::process::Command::new(env!("CARGO"))
        .args(["update", "--workspace", "--locked", "--offline"])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("--locked"), "{said}");
}
