//! Detached model signatures: `inferx model keygen|sign|verify` on the real detector, and a
//! project whose `inferx.yaml` sets `model.public_key` loading (run, validate, the server's
//! start) only a model whose signature verifies, with the development override.

use std::path::{Path, PathBuf};

use inferx_runtime::server::{AppState, ServeOptions};

use crate::support::*;

/// Runs `inferx` with `args` and returns (exit code, stderr).
fn inferx_status(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = inferx();
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn os(text: &str) -> &std::ffi::OsStr {
    text.as_ref()
}

/// `inferx model keygen PATH --no-password`: the public key's `RW…` line.
fn keygen(path: &Path) -> String {
    inferx().args(["model", "keygen", "--no-password"]).arg(path).assert().success();
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    public.lines().nth(1).unwrap().to_string()
}

fn sign(model: &Path, key: &Path) {
    inferx().args(["model", "sign"]).arg(model).arg("--secret-key").arg(key.with_extension("key")).assert().success();
}

fn signed_model(dir: &Path) -> (PathBuf, PathBuf) {
    let model = dir.join("model.onnx");
    std::fs::copy(detector(), &model).unwrap();
    let key = dir.join("signer");
    keygen(&key);
    sign(&model, &key);
    (model, key)
}

#[test]
fn a_signed_model_verifies_and_a_changed_one_does_not() {
    let dir = temp_dir();
    let (model, key) = signed_model(dir.path());
    assert!(dir.path().join("model.onnx.minisig").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key.with_extension("key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the secret key is readable by its owner only");
    }
    let public_file = key.with_extension("pub");
    inferx().args(["model", "verify"]).arg(&model).arg("--public-key").arg(&public_file).assert().success();
    // The key given inline works the same.
    let inline = std::fs::read_to_string(&public_file).unwrap().lines().nth(1).unwrap().to_string();
    inferx().args(["model", "verify"]).arg(&model).args(["--public-key", &inline]).assert().success();

    // One byte changed in the 12 MB model.
    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&model, bytes).unwrap();
    let (code, stderr) = inferx_status(
        &[os("model"), os("verify"), model.as_os_str(), os("--public-key"), public_file.as_os_str()],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr
            .contains("model.onnx.minisig` does not match the file: the model or its signature changed after signing"),
        "{stderr}"
    );

    // Another signer's key.
    let other = keygen(&dir.path().join("other"));
    let (code, stderr) =
        inferx_status(&[os("model"), os("verify"), model.as_os_str(), os("--public-key"), os(&other)], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("was made with another key than the public key it is checked with"), "{stderr}");

    let (code, stderr) =
        inferx_status(&[os("model"), os("verify"), model.as_os_str(), os("--public-key"), os("RWnotakey")], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--public-key: `RWnotakey` is not a minisign public key"), "{stderr}");
}

#[test]
fn keygen_keeps_an_existing_key_and_a_password_protects_the_secret() {
    let dir = temp_dir();
    let key = dir.path().join("signer");
    let before = keygen(&key);
    let (code, stderr) = inferx_status(&[os("model"), os("keygen"), os("--no-password"), key.as_os_str()], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("signer.key already exists; a new key pair would orphan every signature"), "{stderr}");
    assert_eq!(std::fs::read_to_string(key.with_extension("pub")).unwrap().lines().nth(1).unwrap(), before);

    // No password, no terminal: refused before anything is written.
    let locked = dir.path().join("locked");
    let (code, stderr) = inferx_status(&[os("model"), os("keygen"), locked.as_os_str()], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("there is no terminal to ask it on: set INFERX_SIGNING_PASSWORD, or pass --no-password"));
    assert!(!locked.with_extension("key").exists() && !locked.with_extension("pub").exists());

    // A password-protected key (scrypt, as minisign) signs with its password only.
    let password = [("INFERX_SIGNING_PASSWORD", "correct horse")];
    let (code, stderr) = inferx_status(&[os("model"), os("keygen"), locked.as_os_str()], &password);
    assert_eq!(code, 0, "{stderr}");
    let model = dir.path().join("model.onnx");
    std::fs::copy(detector(), &model).unwrap();
    let secret = locked.with_extension("key");
    let sign_args = [os("model"), os("sign"), model.as_os_str(), os("--secret-key"), secret.as_os_str()];
    let (code, stderr) = inferx_status(&sign_args, &[("INFERX_SIGNING_PASSWORD", "wrong")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("Wrong password for that key"), "{stderr}");
    assert!(!dir.path().join("model.onnx.minisig").exists(), "a failed signing writes nothing");
    let (code, stderr) = inferx_status(&sign_args, &password);
    assert_eq!(code, 0, "{stderr}");
    inferx()
        .args(["model", "verify"])
        .arg(&model)
        .arg("--public-key")
        .arg(locked.with_extension("pub"))
        .assert()
        .success();
}

#[test]
fn a_project_with_a_public_key_loads_only_its_signed_model() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "signed", &[]);
    let model = project.join("models/nudenet-320n.onnx");
    let key = dir.path().join("signer");
    let public_key = keygen(&key);
    let config = project.join("inferx.yaml");
    edit_config(&project, "  sha256: ", &format!("  public_key: {public_key}\n  sha256: "));
    let image = images().join("astronaut.png");
    let run = |env: &[(&str, &str)]| {
        inferx_status(
            &[os("run"), model.as_os_str(), image.as_os_str(), os("--config"), config.as_os_str(), os("--json")],
            env,
        )
    };

    // Not signed yet: run, validate and the server's start all refuse it.
    let missing = "failed its signature check: its signature `";
    let fix = "nudenet-320n.onnx.minisig` does not exist; sign the model with `inferx model sign";
    let (code, stderr) = run(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(missing) && stderr.contains(fix), "{stderr}");
    let output = inferx().arg("validate").arg(&project).arg("--json").output().unwrap();
    assert!(!output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|finding| finding["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["model.signature"], "{report:#}");
    let error = AppState::load(&config, &ServeOptions::default()).err().expect("the server refuses to start");
    assert!(error.to_string().contains(fix), "{error}");

    // The development override loads it, with a warning.
    let (code, stderr) = run(&[("INFERX_ALLOW_UNVERIFIED_MODEL", "1")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("INFERX_ALLOW_UNVERIFIED_MODEL is set: the model's sha256 and signature are not checked"));

    // Signed: every path loads it.
    sign(&model, &key);
    let (code, stderr) = run(&[]);
    assert_eq!(code, 0, "{stderr}");
    inferx().arg("validate").arg(&project).assert().success();
    AppState::load(&config, &ServeOptions::default()).expect("the server starts");

    // A signature file garbled after signing.
    write(&project.join("models/nudenet-320n.onnx.minisig"), "untrusted comment: x\nnot a signature\n");
    let (code, stderr) = run(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nudenet-320n.onnx.minisig` is not a minisign signature"), "{stderr}");

    // A key that is not one is refused when the config is read.
    edit_config(&project, &public_key, "RWQnotakey");
    let (code, stderr) = run(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("model.public_key: `RWQnotakey` is not a minisign public key"), "{stderr}");
}
