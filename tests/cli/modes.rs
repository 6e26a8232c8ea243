//! The modes of what `template`, `api`, `docker` and `init` write: new files and folders get
//! what the umask gives (0644 and 0755 under umask 022), even those written through a
//! temporary file or staged in a folder renamed into place, and a rewritten file keeps the
//! mode its user set (#26).

#![cfg(unix)]

use std::{os::unix::fs::PermissionsExt, path::Path};

use crate::support::*;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every file and folder under `root` (itself included) whose mode is not `file` or `folder`.
fn other_modes(root: &Path, file: u32, folder: u32) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|entry| !entry.file_type().is_symlink())
        .filter_map(|entry| {
            let expected = if entry.file_type().is_dir() { folder } else { file };
            let found = mode(entry.path());
            (found != expected).then(|| format!("{:o} {}", found, entry.path().display()))
        })
        .collect()
}

#[test]
fn template_api_and_docker_write_files_0644_and_folders_0755_under_umask_022() {
    let dir = temp_dir();
    let project = generate_yolo_with(inferx_under_umask("022"), dir.path(), "app", &[]);
    assert_eq!(other_modes(&project, 0o644, 0o755), Vec::<String>::new(), "template");

    // `api` rewrites Cargo.toml, inferx.yaml, README.md and src/main.rs through temporary files.
    inferx_under_umask("022").arg("api").arg(&project).assert().success();
    assert_eq!(other_modes(&project, 0o644, 0o755), Vec::<String>::new(), "api");
    assert!(project.join("src/server.rs").is_file());

    // `docker` adds the Dockerfile, compose and deploy/** (bind-mounted into containers that
    // run as other users: they must be readable by all).
    inferx_under_umask("022").arg("docker").arg(&project).arg("--skip-runtime").assert().success();
    assert_eq!(other_modes(&project, 0o644, 0o755), Vec::<String>::new(), "docker");
    for file in ["Dockerfile", "docker-compose.yml", "deploy/prometheus.yml"] {
        assert_eq!(mode(&project.join(file)), 0o644, "{file}");
    }

    // The umask decides, not a fixed mode.
    let strict = temp_dir();
    let project = generate_yolo_with(inferx_under_umask("027"), strict.path(), "app", &["--api"]);
    inferx_under_umask("027").arg("docker").arg(&project).arg("--skip-runtime").assert().success();
    assert_eq!(other_modes(&project, 0o640, 0o750), Vec::<String>::new(), "umask 027");
}

#[test]
fn init_writes_files_0644_and_folders_0755_under_umask_022() {
    let dir = temp_dir();
    inferx_under_umask("022")
        .args(["init", "--yes", "--name", "app", "--docker", "--skip-runtime", "--dir"])
        .arg(dir.path())
        .arg("--model")
        .arg(detector())
        .assert()
        .success();
    let project = dir.path().join("app");
    assert!(project.join("deploy").is_dir() && project.join("src/server.rs").is_file());
    assert_eq!(other_modes(&project, 0o644, 0o755), Vec::<String>::new(), "init");
}

#[test]
fn a_rewritten_file_keeps_the_mode_its_user_set() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "app", &[]);
    let readme = project.join("README.md");
    let config = project.join("inferx.yaml");
    let main = project.join("src/main.rs");
    std::fs::set_permissions(&readme, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::read_to_string(&main).unwrap();
    inferx_under_umask("022").arg("api").arg(&project).assert().success();
    assert_ne!(std::fs::read_to_string(&main).unwrap(), before, "src/main.rs was rewritten");
    assert_eq!(mode(&readme), 0o600);
    assert_eq!(mode(&config), 0o640);
    assert_eq!(mode(&main), 0o755);

    // A deployment file edited by its user and written again with --force.
    inferx_under_umask("022").arg("docker").arg(&project).arg("--skip-runtime").assert().success();
    let dockerfile = project.join("Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(&dockerfile, format!("{text}# mine\n")).unwrap();
    std::fs::set_permissions(&dockerfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    inferx_under_umask("022").arg("docker").arg(&project).args(["--skip-runtime", "--force"]).assert().success();
    assert_eq!(std::fs::read_to_string(&dockerfile).unwrap(), text, "the Dockerfile was written again");
    assert_eq!(mode(&dockerfile), 0o600, "and kept its mode");
}
