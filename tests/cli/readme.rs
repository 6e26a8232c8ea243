//! The README is a landing page: small, with an Install section, the two set-up commands CI
//! runs, and links that lead somewhere.

use crate::support::*;

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("README.md")
}

#[test]
fn the_readme_is_a_landing_page_under_10_kib_with_an_install_section() {
    let text = readme();
    assert!(text.len() < 10 * 1024, "README.md is {} bytes: move details into the book or bench/README.md", text.len());
    let install = text.split("\n## Install\n").nth(1).expect("an `## Install` section");
    let install = install.split("\n## ").next().unwrap_or(install);
    assert!(install.contains("cargo install --path ."), "Install says how to install: {install}");
    assert!(install.contains("PATH"), "Install says how `inferx` gets on the PATH: {install}");
}

#[test]
fn ci_runs_the_readmes_test_command_and_the_readmes_links_resolve() {
    let text = readme();
    let setup = text.split("```sh\n").nth(1).and_then(|block| block.split("```").next()).expect("a first sh block");
    let commands: Vec<&str> = setup.lines().map(|line| line.split('#').next().unwrap_or("").trim()).collect();
    assert_eq!(
        commands,
        ["bash scripts/quickstart.sh", "bash scripts/test.sh"],
        "the two set-up commands open the README"
    );
    let ci = std::fs::read_to_string(repo().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|line| line.trim() == "exec bash scripts/test.sh"),
        ".ci/run runs the README's test command"
    );

    for link in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
        if link.starts_with("http") || link.starts_with('#') {
            continue;
        }
        let path = link.split('#').next().unwrap_or(link);
        assert!(repo().join(path).exists(), "README.md links to `{link}`, which does not exist");
    }
}
