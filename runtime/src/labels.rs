//! Class labels: from model metadata (Ultralytics' Python-dict `names`, JSON lists or maps)
//! or from a labels file (one label per line, or JSON/YAML list).

use std::path::Path;

use crate::{
    project_files::{read_plain_file, SMALL_FILE_LIMIT},
    Error, Result,
};

/// Parses labels stored in model metadata: `{0: 'person', 1: 'bicycle'}`, `["cat", "dog"]`,
/// or `{"0": "cat"}`. Returns `None` when the text is none of these.
///
/// ```
/// use inferx_runtime::labels::{label_for, parse_metadata_labels};
///
/// // Ultralytics writes a Python dict; entries are put in index order.
/// let labels = parse_metadata_labels("{1: 'bicycle', 0: 'person'}").unwrap();
/// assert_eq!(labels, ["person", "bicycle"]);
/// assert_eq!(parse_metadata_labels(r#"["cat", "dog"]"#).unwrap(), ["cat", "dog"]);
/// assert_eq!(parse_metadata_labels("{0: 'a', 2: 'c'}"), None); // index 1 is missing
///
/// assert_eq!(label_for(&labels, 1), "bicycle");
/// assert_eq!(label_for(&labels, 7), "class_7");
/// ```
pub fn parse_metadata_labels(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(text) {
        return Some(list);
    }
    let body = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut entries: Vec<(usize, String)> = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after_key) = rest.split_once(':')?;
        let index: usize = key.trim().trim_matches(|c| c == '"' || c == '\'').parse().ok()?;
        let after_key = after_key.trim_start();
        let quote = after_key.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let (value, after_value) = read_quoted(&after_key[1..], quote)?;
        entries.push((index, value));
        rest = after_value.trim_start().trim_start_matches(',').trim_start();
    }
    entries.sort_by_key(|(index, _)| *index);
    let contiguous = entries.iter().enumerate().all(|(position, (index, _))| position == *index);
    contiguous.then(|| entries.into_iter().map(|(_, value)| value).collect())
}

/// Reads a Python string literal body up to the closing `quote`, handling backslash escapes.
fn read_quoted(text: &str, quote: char) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((position, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            c if c == quote => return Some((value, &text[position + c.len_utf8()..])),
            c => value.push(c),
        }
    }
    None
}

/// Reads a labels file: a JSON or YAML list, or one label per line (blank lines ignored). It
/// must be a regular file of at most [`SMALL_FILE_LIMIT`]: a FIFO or a device is refused at
/// once instead of blocking or filling memory.
pub fn read_labels_file(path: &Path) -> Result<Vec<String>> {
    let text = read_plain_file(path, "labels file", SMALL_FILE_LIMIT).map_err(|error| match error {
        Error::Io { path, source, .. } => Error::io("could not read labels file", path, source),
        other => other,
    })?;
    Ok(parse_labels_text(&text))
}

/// The labels in a labels file's text (see [`read_labels_file`]).
pub fn parse_labels_text(text: &str) -> Vec<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') || trimmed.starts_with("- ") {
        if let Ok(list) = serde_yaml::from_str::<Vec<String>>(text) {
            return list;
        }
        if let Some(list) = parse_metadata_labels(text) {
            return list;
        }
    }
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_string).collect()
}

/// The label of a class, or `class_<id>` when unknown.
pub fn label_for(labels: &[String], class_id: usize) -> String {
    labels.get(class_id).cloned().unwrap_or_else(|| format!("class_{class_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_names_are_parsed_in_index_order() {
        let labels = parse_metadata_labels("{1: 'bicycle', 0: 'person', 2: \"it's\"}").unwrap();
        assert_eq!(labels, ["person", "bicycle", "it's"]);
        assert_eq!(parse_metadata_labels(r#"["cat", "dog"]"#).unwrap(), ["cat", "dog"]);
        assert_eq!(parse_metadata_labels("{0: 'a\\'b'}").unwrap(), ["a'b"]);
    }

    #[test]
    fn malformed_or_gappy_names_are_rejected() {
        assert_eq!(parse_metadata_labels("{0: 'a', 2: 'c'}"), None);
        assert_eq!(parse_metadata_labels("{0: 'unterminated}"), None);
        assert_eq!(parse_metadata_labels("not labels"), None);
    }

    #[test]
    fn labels_files_accept_lines_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let lines = dir.path().join("labels.txt");
        std::fs::write(&lines, "cat\n\ndog\n").unwrap();
        assert_eq!(read_labels_file(&lines).unwrap(), ["cat", "dog"]);
        let list = dir.path().join("labels.yaml");
        std::fs::write(&list, "- cat\n- dog\n").unwrap();
        assert_eq!(read_labels_file(&list).unwrap(), ["cat", "dog"]);
        assert_eq!(label_for(&["cat".into()], 3), "class_3");
    }
}
