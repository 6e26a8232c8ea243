//! Editing one key of `inferx.yaml` in place, the way a person would: every other line, comment
//! and blank kept as written, so that a tool that changes a threshold or a model path leaves a
//! diff of one or two lines. Re-serialising the parsed file would drop the comments that explain
//! the settings.
//!
//! Only block sections (`model:` on its own line, its keys indented below) are edited; a flow
//! section (`model: {path: a.onnx}`) is refused, and the caller tells the user which line to
//! change by hand.

/// Why a key could not be set in place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The section is written in flow style (`section: {...}`) or as a scalar.
    #[error("its `{section}:` section is not a block (`{section}:` on its own line, its keys indented below)")]
    NotABlock {
        /// The section's name.
        section: String,
    },
}

/// Where [`set_block_key`] puts a key the section lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKey<'a> {
    /// As the section's first key, right below its header.
    First,
    /// On the line after this key (as the first key when that one is missing too).
    After(&'a str),
}

/// `text` with `section.key` set to `value`, written as given (see [`yaml_scalar`] for
/// strings). The key's line keeps its indentation and trailing comment; a missing key is added
/// at `new_key` with the indentation of the section's keys (two spaces in an empty section); a
/// missing section is added at the end of the file. Every other line stays as it was.
pub fn set_block_key(text: &str, section: &str, key: &str, value: &str, new_key: NewKey) -> Result<String, EditError> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let is_content = |line: &str| !line.trim().is_empty() && !line.trim_start().starts_with('#');
    let is_top_level = |line: &str| is_content(line) && !line.starts_with([' ', '\t']);
    let header = lines
        .iter()
        .position(|line| is_top_level(line) && line.split(':').next().is_some_and(|name| name.trim() == section));
    let Some(header) = header else {
        if lines.last().is_some_and(|line| !line.trim().is_empty()) {
            // Sections are kept apart by a blank line, as the templates write them.
            lines.push(String::new());
        }
        lines.push(format!("{section}:"));
        lines.push(format!("  {key}: {value}"));
        return Ok(joined(lines));
    };
    let after_colon = lines[header].split_once(':').map_or("", |(_, rest)| rest).trim();
    if !(after_colon.is_empty() || after_colon.starts_with('#')) {
        return Err(EditError::NotABlock { section: section.to_string() });
    }
    let end = (header + 1..lines.len()).find(|&index| is_top_level(&lines[index])).unwrap_or(lines.len());
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    let indent = lines[header + 1..end].iter().find(|line| is_content(line)).map_or(2, |line| indent_of(line));
    let key_line = |lines: &[String], wanted: &str| {
        (header + 1..end).find(|&index| {
            let line = &lines[index];
            indent_of(line) == indent
                && line.trim_start().strip_prefix(wanted).is_some_and(|rest| rest.starts_with(':'))
        })
    };
    let pad = " ".repeat(indent);
    match key_line(&lines, key) {
        Some(at) => {
            let line = &lines[at];
            let comment = line.find(" #").map(|position| line[position..].to_string()).unwrap_or_default();
            lines[at] = format!("{pad}{key}: {value}{comment}");
        }
        None => {
            let at = match new_key {
                NewKey::After(previous) => key_line(&lines, previous).map_or(header + 1, |line| line + 1),
                NewKey::First => header + 1,
            };
            lines.insert(at, format!("{pad}{key}: {value}"));
        }
    }
    Ok(joined(lines))
}

/// A string as a YAML scalar: plain when that reads back as the same string, else
/// double-quoted (a JSON string is a YAML string).
pub fn yaml_scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|character| character.is_ascii_alphanumeric() || "._/-+".contains(character))
        && !text.starts_with(['-', '.'])
        && !matches!(text.to_ascii_lowercase().as_str(), "true" | "false" | "null" | "yes" | "no" | "on" | "off");
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
    }
}

/// The lines joined, ending with a newline.
fn joined(lines: Vec<String>) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = "# Mine.\ntask: anomaly\nmodel:\n    # Relative to this file.\n    path: models/m.onnx # the float one\n\nthresholds: # tuned\n  # Scores above are anomalous.\n  confidence: 0.5 # anomalib's default\n\ndevice: cpu # here\n";

    #[test]
    fn a_key_is_replaced_in_place_keeping_its_indentation_comment_and_every_other_line() {
        assert_eq!(
            set_block_key(PROJECT, "thresholds", "confidence", "0.4375", NewKey::First).unwrap(),
            PROJECT.replace("confidence: 0.5 #", "confidence: 0.4375 #")
        );
        assert_eq!(
            set_block_key(PROJECT, "model", "path", "models/m-int8.onnx", NewKey::First).unwrap(),
            PROJECT.replace("path: models/m.onnx", "path: models/m-int8.onnx")
        );
    }

    #[test]
    fn a_missing_key_goes_first_or_after_its_neighbour_with_the_sections_indentation() {
        assert_eq!(
            set_block_key(PROJECT, "model", "sha256", "f00", NewKey::After("path")).unwrap(),
            PROJECT.replace("# the float one\n", "# the float one\n    sha256: f00\n")
        );
        assert_eq!(
            set_block_key(PROJECT, "thresholds", "iou", "0.7", NewKey::First).unwrap(),
            PROJECT.replace("thresholds: # tuned\n", "thresholds: # tuned\n  iou: 0.7\n")
        );
        // A neighbour that is missing too: the key goes first.
        assert_eq!(
            set_block_key(PROJECT, "thresholds", "iou", "0.7", NewKey::After("top_k")).unwrap(),
            PROJECT.replace("thresholds: # tuned\n", "thresholds: # tuned\n  iou: 0.7\n")
        );
    }

    #[test]
    fn a_missing_section_is_added_at_the_end_and_a_flow_section_is_refused() {
        let bare = "task: anomaly\nmodel: {path: m.onnx}\n";
        assert_eq!(
            set_block_key(bare, "thresholds", "confidence", "0.25", NewKey::First).unwrap(),
            format!("{bare}\nthresholds:\n  confidence: 0.25\n")
        );
        assert_eq!(
            set_block_key(bare, "model", "path", "b.onnx", NewKey::First),
            Err(EditError::NotABlock { section: "model".into() })
        );
        // A key of the same name in another section, or deeper, is not this section's.
        let nested = "model:\n  path: a.onnx\n  extra:\n    sha256: x\nother:\n  sha256: y\n";
        assert_eq!(
            set_block_key(nested, "model", "sha256", "f00", NewKey::After("path")).unwrap(),
            "model:\n  path: a.onnx\n  sha256: f00\n  extra:\n    sha256: x\nother:\n  sha256: y\n"
        );
    }

    #[test]
    fn strings_are_plain_only_when_they_read_back_as_themselves() {
        assert_eq!(yaml_scalar("models/a-int8.onnx"), "models/a-int8.onnx");
        assert_eq!(yaml_scalar("b c.onnx"), "\"b c.onnx\"");
        assert_eq!(yaml_scalar("yes"), "\"yes\"");
        assert_eq!(yaml_scalar("-x"), "\"-x\"");
    }
}
