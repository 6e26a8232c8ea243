//! The imports of the runtime (`runtime/src`) and of the CLI (`src`) run one way: down the
//! layers that each lib.rs lists (`// N. name` lines, each followed by its modules), and never
//! in a circle between the files of one folder. Every `crate::` and `super::` path is resolved to the module file that
//! defines it (following lib.rs's `pub use` re-exports); a folder's own `mod.rs` (or lib.rs)
//! is its table of contents and draws no edge.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use crate::support::*;

/// A module path below the crate root, e.g. `["tasks", "detection"]`.
type ModulePath = Vec<String>;

/// What an import check found: every line says one problem.
fn problems(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let (layers, mut problems) = layers_of(&lib);
    let reexports = reexports_of(&lib);
    // folder → sibling → siblings it uses
    let mut edges: BTreeMap<ModulePath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in rust_files(src) {
        let me = module_of(src, &file);
        let owner = file.file_name().is_some_and(|name| name == "lib.rs" || name == "mod.rs");
        // src/main.rs is the binary's root, a crate of its own that calls the library.
        if owner || me.is_empty() || file == src.join("main.rs") {
            continue;
        }
        if me.len() == 1 && !layers.contains_key(&me[0]) {
            problems.push(format!("`{}` is not in a layer of lib.rs: declare it under one", me[0]));
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for path in paths_in(&strip_comments(&text), &me) {
            let Some(target) = resolve(src, &path, &reexports) else { continue };
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common >= me.len() || common >= target.len() {
                continue; // itself, or its own folder's table of contents
            }
            let (from, to) = (me[common].clone(), target[common].clone());
            let folder = me[..common].to_vec();
            if folder.is_empty() {
                if let (Some(&low), Some(&high)) = (layers.get(&to), layers.get(&from)) {
                    if low > high {
                        problems.push(format!(
                            "`{}` (layer {high}) uses `crate::{}` (layer {low}): imports run down the layers",
                            file.strip_prefix(src).unwrap().display(),
                            path.join("::")
                        ));
                    }
                }
            }
            edges.entry(folder).or_default().entry(from).or_default().insert(to);
        }
    }
    for (folder, graph) in &edges {
        for circle in circles(graph) {
            let folder = if folder.is_empty() { ".".to_string() } else { folder.join("/") };
            problems.push(format!("circle in {folder}: {}", circle.join(" <-> ")));
        }
    }
    problems
}

/// lib.rs's layers: module → layer number. Modules declared before the first layer line
/// are problems.
fn layers_of(lib: &str) -> (BTreeMap<String, usize>, Vec<String>) {
    let mut layers = BTreeMap::new();
    let mut problems = Vec::new();
    let mut current = None;
    for line in lib.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("// ") {
            if let Some((number, _)) = rest.split_once(". ") {
                if let Ok(number) = number.parse::<usize>() {
                    current = Some(number);
                }
            }
            continue;
        }
        let visibility = ["pub(crate) ", "pub(super) ", "pub "].into_iter().find(|prefix| line.starts_with(prefix));
        let declared = line
            .strip_prefix(visibility.unwrap_or(""))
            .and_then(|rest| rest.strip_prefix("mod "))
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(name) = declared {
            match current {
                Some(layer) => {
                    layers.insert(name.to_string(), layer);
                }
                None => problems.push(format!("`{name}` is declared before the first layer line of lib.rs")),
            }
        }
    }
    (layers, problems)
}

/// Names lib.rs re-exports (`pub use module::{Name, other as alias}`) → their module.
fn reexports_of(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else { continue };
        let Some((module, items)) = rest.split_once("::") else { continue };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = item.split(" as ").last().unwrap_or(item).trim();
            let name = name.rsplit("::").next().unwrap_or(name);
            if !name.is_empty() {
                names.entry(name.to_string()).or_insert_with(|| module.trim().to_string());
            }
        }
    }
    names
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|extension| extension == "rs"))
        .map(walkdir::DirEntry::into_path)
        .collect()
}

fn module_of(src: &Path, file: &Path) -> ModulePath {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut segments: ModulePath = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    if segments.last().is_some_and(|last| last == "mod" || last == "lib") {
        segments.pop();
    }
    segments
}

/// Source without comments and string contents (a doc link or a message naming a path is no
/// import).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                out.push('"');
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        chars.next();
                    } else if c == '"' {
                        break;
                    }
                }
                out.push('"');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every `crate::` and `super::` path in `text`, as full paths from the crate root, with one
/// level of braces expanded (`crate::{a, b::c}` gives `a` and `b::c`).
fn paths_in(text: &str, me: &[String]) -> Vec<ModulePath> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut index = 0;
    while index < text.len() {
        // Inside a character that is not ASCII (a `'…'` literal): no path starts there.
        if !text.is_char_boundary(index) {
            index += 1;
            continue;
        }
        let head = ["crate::", "super::"].into_iter().find(|head| text[index..].starts_with(head));
        let boundary = index == 0 || !is_ident(bytes[index - 1]);
        let Some(head) = head.filter(|_| boundary) else {
            index += 1;
            continue;
        };
        let mut base: ModulePath =
            if head == "crate::" { Vec::new() } else { me[..me.len().saturating_sub(1)].to_vec() };
        let mut end = index + head.len();
        // Further `super::` and plain segments.
        loop {
            if text[end..].starts_with("super::") {
                base.pop();
                end += "super::".len();
                continue;
            }
            let start = end;
            while end < text.len() && is_ident(bytes[end]) {
                end += 1;
            }
            if end > start {
                base.push(text[start..end].to_string());
                if text[end..].starts_with("::") && !text[end + 2..].starts_with('{') {
                    end += 2;
                    continue;
                }
            }
            break;
        }
        // `crate::{..}` right after the head, or `crate::a::{..}` after a segment.
        let open = if text[end..].starts_with("::{") {
            Some(end + 3)
        } else if text[end..].starts_with('{') {
            Some(end + 1)
        } else {
            None
        };
        if let Some(open) = open {
            let mut depth = 1;
            let mut close = open;
            while close < text.len() && depth > 0 {
                match bytes[close] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                close += 1;
            }
            let inner = &text[open..close.saturating_sub(1)];
            let mut depth = 0;
            let mut item = String::new();
            for c in inner.chars().chain([',']) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let path: ModulePath = item
                            .trim()
                            .split("::")
                            .map(|segment| segment.trim().split(' ').next().unwrap_or("").to_string())
                            .take_while(|segment| !segment.is_empty() && segment != "{" && !segment.starts_with('{'))
                            .collect();
                        if path.first().is_some_and(|first| first != "self") {
                            found.push([base.clone(), path].concat());
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            end = close;
        }
        if !base.is_empty() {
            found.push(base);
        }
        index = end.max(index + 1);
    }
    found
}

/// The deepest module a path names, as the module path of its file; `None` for items of the
/// crate root that are not re-exports.
fn resolve(src: &Path, path: &[String], reexports: &BTreeMap<String, String>) -> Option<ModulePath> {
    let mut module = Vec::new();
    let mut dir = src.to_path_buf();
    for segment in path {
        if dir.join(format!("{segment}.rs")).is_file() || dir.join(segment).join("mod.rs").is_file() {
            module.push(segment.clone());
            dir = dir.join(segment);
        } else {
            break;
        }
    }
    if module.is_empty() {
        return path.first().and_then(|first| reexports.get(first)).map(|module| vec![module.clone()]);
    }
    Some(module)
}

/// Strongly connected sets of more than one member (Tarjan), each sorted.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Search<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, node: &'a str) {
            let order = self.index.len();
            self.index.insert(node, order);
            self.low.insert(node, order);
            self.stack.push(node);
            for next in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next.as_str()) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next.as_str()]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next.as_str()) {
                    let low = self.low[node].min(self.index[next.as_str()]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut members = Vec::new();
                while let Some(member) = self.stack.pop() {
                    members.push(member.to_string());
                    if member == node {
                        break;
                    }
                }
                if members.len() > 1 {
                    members.sort();
                    self.found.push(members);
                }
            }
        }
    }
    let mut search =
        Search { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    let nodes: BTreeSet<&str> = graph
        .iter()
        .flat_map(|(from, tos)| std::iter::once(from.as_str()).chain(tos.iter().map(String::as_str)))
        .collect();
    for node in nodes {
        if !search.index.contains_key(node) {
            search.visit(node);
        }
    }
    search.found
}

#[test]
fn the_runtime_imports_run_down_its_layers_with_no_circle() {
    let problems = problems(&repo().join("runtime/src"));
    assert!(problems.is_empty(), "the runtime's layers are broken:\n{}", problems.join("\n"));
}

#[test]
fn the_cli_imports_run_down_its_layers_with_no_circle() {
    let problems = problems(&repo().join("src"));
    assert!(problems.is_empty(), "the CLI's layers are broken:\n{}", problems.join("\n"));
}

#[test]
fn an_upward_import_a_circle_and_an_unlisted_module_are_each_reported() {
    let dir = temp_dir();
    let src = dir.path();
    write(
        &src.join("lib.rs"),
        "// 1. Leaves.\nmod error;\npub(crate) mod tensor;\n// 2. Above.\npub mod tasks;\npub mod loose;\npub use error::{Error, Result};\n",
    );
    write(&src.join("error.rs"), "use crate::tasks::Thing; // upward\n");
    write(
        &src.join("tensor.rs"),
        "use crate::{Error, Result};\n/// crate::tasks in a comment is no import\nconst A: &str = \"crate::tasks\";\n",
    );
    write(&src.join("tasks/mod.rs"), "pub mod detection;\npub mod segmentation;\n");
    write(&src.join("tasks/detection.rs"), "use super::segmentation::mask;\nuse crate::tensor::Tensor;\n");
    write(&src.join("tasks/segmentation.rs"), "use crate::tasks::{detection::{nms, Boxes}, Other};\n");
    write(&src.join("stray.rs"), "");
    let mut found = problems(src);
    found.sort();
    assert_eq!(
        found,
        [
            "`error.rs` (layer 1) uses `crate::tasks::Thing` (layer 2): imports run down the layers",
            "`stray` is not in a layer of lib.rs: declare it under one",
            "circle in .: error <-> tasks <-> tensor",
            "circle in tasks: detection <-> segmentation",
        ],
        "{found:#?}"
    );
}
