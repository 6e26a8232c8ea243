//! The record of what inferx generated in a project (`.inferx/generated.json`): the sha256 of
//! every file it wrote, so that later commands tell the user's edits apart.

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    changes::{read_bytes, Change, ChangeKind},
    error::GenerateError,
    GeneratedFile,
};

/// Where the record of generated files lives, relative to the project.
pub const RECORD: &str = ".inferx/generated.json";

/// Suffix of the new version written beside a file the user edited.
pub const NEW_SUFFIX: &str = ".new";

/// What inferx generated in a project: path → sha256 of the bytes written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The inferx version that wrote the files.
    pub inferx_version: String,
    /// Path (relative, `/`-separated) → lowercase hex sha256.
    pub files: BTreeMap<String, String>,
}

impl Record {
    /// The record of rendered `files` (the model is not rendered: it is the user's, checked by
    /// `model.sha256`; the sample images are the user's to replace once generated).
    pub fn of(files: &[GeneratedFile]) -> Record {
        let files = files
            .iter()
            .filter(|file| file.path != RECORD && !is_sample(&file.path))
            .map(|file| (file.path.clone(), sha256(&file.contents)))
            .collect();
        Record { inferx_version: env!("CARGO_PKG_VERSION").to_string(), files }
    }

    /// The record as the file that holds it.
    pub fn to_file(&self) -> Result<GeneratedFile, GenerateError> {
        let text = serde_json::to_string_pretty(self).map_err(|error| GenerateError::Bug(error.to_string()))? + "\n";
        Ok(GeneratedFile { path: RECORD.to_string(), contents: text.into_bytes() })
    }

    /// A project's record; `None` when it has none (made before records existed) or it is
    /// unreadable (then every file counts as edited, which loses nothing).
    pub fn read(dir: &Path) -> Result<Option<Record>, GenerateError> {
        Ok(read_bytes(dir, RECORD)?.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Records `contents` as what inferx generated at `path`.
    pub fn set(&mut self, path: &str, contents: &[u8]) {
        self.files.insert(path.to_string(), sha256(contents));
    }

    /// Whether `contents` is what inferx generated at `path` (i.e. the user has not edited it).
    pub fn is_pristine(&self, path: &str, contents: &[u8]) -> bool {
        self.files.get(path).is_some_and(|recorded| *recorded == sha256(contents))
    }
}

/// Whether `path` is one of the sample inputs (`samples/`): written at generation, then the
/// user's (never recorded, never upgraded).
pub fn is_sample(path: &str) -> bool {
    path.strip_prefix(super::SAMPLES_DIR).is_some_and(|rest| rest.starts_with('/'))
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Adds the record of `files` to them.
pub fn with_record(mut files: Vec<GeneratedFile>) -> Result<Vec<GeneratedFile>, GenerateError> {
    files.push(Record::of(&files).to_file()?);
    Ok(files)
}

/// The change that writes `record` as the project's record.
pub fn record_change(dir: &Path, record: &Record) -> Result<Change, GenerateError> {
    let file = record.to_file()?;
    let kind = ChangeKind::of(read_bytes(dir, RECORD)?.as_deref(), &file.contents);
    let contents =
        String::from_utf8(file.contents).map_err(|_| GenerateError::Bug("the record is not UTF-8".to_string()))?;
    Ok(Change {
        path: RECORD.to_string(),
        kind,
        summary: "what inferx generated (to tell your edits apart)".to_string(),
        contents,
        diff: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> GeneratedFile {
        GeneratedFile { path: path.into(), contents: text.as_bytes().to_vec() }
    }

    #[test]
    fn the_record_tells_edits_apart() {
        let record = Record::of(&[file("src/main.rs", "fn main() {}\n"), file(RECORD, "{}")]);
        assert_eq!(record.files.keys().collect::<Vec<_>>(), ["src/main.rs"]);
        assert!(record.is_pristine("src/main.rs", b"fn main() {}\n"));
        assert!(!record.is_pristine("src/main.rs", b"fn main() { edited() }\n"));
        assert!(!record.is_pristine("README.md", b"anything"));
        let round_trip: Record = serde_json::from_slice(&record.to_file().unwrap().contents).unwrap();
        assert_eq!(round_trip, record);
    }
}
