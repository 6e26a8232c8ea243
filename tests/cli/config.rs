//! Config precedence, lowest first: built-in defaults, the user config
//! (`INFERX_USER_CONFIG`, else `~/.config/inferx/config.yaml`), a project's `inferx.yaml`,
//! `INFERX_*` variables, flags. Observed through the score threshold: each layer's value
//! gives a different number of detections on the sample photos.

use std::path::Path;

use crate::support::*;

/// Scores of every detection on the sample photos at a low threshold.
fn all_scores() -> Vec<f64> {
    let records = run_json(inferx().arg("run").arg(detector()).arg(images()).args(["--conf", "0.02", "--json"]));
    records.as_array().unwrap().iter().flat_map(|record| detections_of(record).into_iter().map(|d| d.1)).collect()
}

/// Detections on the sample photos with `user` as the user config, `env` set, and `extra` args.
fn detections(user: &Path, env: &[(&str, &str)], extra: &[&str]) -> usize {
    let mut command = inferx();
    command.env("INFERX_USER_CONFIG", user).envs(env.iter().copied());
    let records = run_json(command.arg("run").arg(detector()).arg(images()).arg("--json").args(extra));
    records.as_array().unwrap().iter().map(|record| detections_of(record).len()).sum()
}

#[test]
fn each_layer_overrides_the_one_below() {
    let scores = all_scores();
    let above = |threshold: f64| scores.iter().filter(|score| **score > threshold).count();
    // One threshold per layer, each giving a different count.
    let (user, in_project, env, flag) = (0.03, 0.06, 0.09, 0.15);
    let counts = [above(0.25), above(user), above(in_project), above(env), above(flag)];
    let mut distinct = counts.to_vec();
    distinct.dedup();
    assert_eq!(distinct.len(), counts.len(), "the photos separate the thresholds: {counts:?} from {scores:?}");

    let dir = temp_dir();
    let none = dir.path().join("no-user-config.yaml");
    let user_file = dir.path().join("config.yaml");
    write(&user_file, format!("# my defaults\nthresholds:\n  confidence: {user}\ndevice: cpu\n"));
    let project = generate_yolo(dir.path(), "layers", &[]);
    let config = project.join("inferx.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replacen("confidence: 0.25", &format!("confidence: {in_project}"), 1)).unwrap();
    let config = config.to_str().unwrap();
    let (env_value, flag_value) = (env.to_string(), flag.to_string());
    let env = [("INFERX_CONFIDENCE", env_value.as_str())];

    // Without a project: defaults < user < env < flags.
    assert_eq!(detections(&none, &[], &[]), counts[0], "built-in default");
    assert_eq!(detections(&user_file, &[], &[]), counts[1], "the user config over the defaults");
    assert_eq!(detections(&user_file, &env, &[]), counts[3], "INFERX_* over the user config");
    assert_eq!(detections(&user_file, &env, &["--conf", &flag_value]), counts[4], "flags over everything");
    // With a project: user < project < env < flags.
    assert_eq!(detections(&user_file, &[], &["--config", config]), counts[2], "the project over the user config");
    assert_eq!(detections(&user_file, &env, &["--config", config]), counts[3], "INFERX_* over the project");
    assert_eq!(detections(&user_file, &env, &["--config", config, "--conf", &flag_value]), counts[4]);
}

#[test]
fn a_bad_user_config_is_refused_with_the_file_and_the_key_named() {
    let dir = temp_dir();
    let user_file = dir.path().join("config.yaml");
    for (contents, expected) in [
        ("devise: cpu\n", "did you mean `device`?"),
        ("model:\n  path: elsewhere.onnx\n", "belong in its inferx.yaml"),
        ("thresholds:\n  confidence: 2\n", "thresholds.confidence must be between 0 and 1"),
        ("thresholds:\n  confidense: 0.3\n", "did you mean `confidence`?"),
        ("device: [cpu\n", "line 1 column"),
    ] {
        write(&user_file, contents);
        let output = inferx()
            .env("INFERX_USER_CONFIG", &user_file)
            .arg("run")
            .arg(detector())
            .arg(images().join("astronaut.png"))
            .output()
            .unwrap();
        assert!(!output.status.success(), "{contents}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{contents}: `{expected}` in {stderr}");
        assert!(stderr.contains(user_file.to_str().unwrap()), "the file is named: {stderr}");
    }
}
