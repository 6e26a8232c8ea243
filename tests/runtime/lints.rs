//! The runtime keeps the workspace's lints in its own `[lints]` table, because generated
//! projects vendor it outside this workspace: the two tables must say the same.

use toml_edit::{DocumentMut, Item};

use crate::support::*;

fn manifest(path: &str) -> DocumentMut {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    text.parse().unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// `{ "rust.unsafe_op_in_unsafe_fn": "deny", "clippy.unwrap_used": "deny", ... }` of a lints table.
fn levels(table: &Item) -> Vec<(String, String)> {
    let mut levels = Vec::new();
    for (group, lints) in table.as_table_like().expect("a lints table").iter() {
        for (lint, level) in lints.as_table_like().expect("a lint group").iter() {
            let level = level.as_str().map(str::to_string).unwrap_or_else(|| level.to_string().trim().to_string());
            levels.push((format!("{group}.{lint}"), level));
        }
    }
    levels.sort();
    levels
}

#[test]
fn the_runtime_repeats_the_workspace_lints_exactly() {
    let workspace = manifest("Cargo.toml");
    let runtime = manifest("runtime/Cargo.toml");
    let shared = levels(&workspace["workspace"]["lints"]);
    assert!(shared.iter().any(|(lint, level)| lint == "clippy.unwrap_used" && level == "deny"), "{shared:?}");
    assert_eq!(levels(&runtime["lints"]), shared, "runtime/Cargo.toml [lints] differs from [workspace.lints]");
    assert_eq!(workspace["lints"]["workspace"].as_bool(), Some(true), "the inferx crate uses the workspace lints");
}
