//! The model file itself: its sha256, read in blocks so a model of any size is hashed without
//! being held in memory.

use std::path::Path;

use crate::{Error, Result};

/// Checks a file's sha256 against an expected hex digest.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<()> {
    let actual = file_sha256(path)?;
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(Error::ModelChanged { path: path.to_path_buf(), actual, expected: expected.trim().to_string() })
    }
}

/// The sha256 of a file, hex, read in blocks.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    read_blocks(path, |block| hasher.update(block))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Reads a file in blocks of 64 KiB, handing each to `each`: a model of any size is hashed or
/// verified without being held in memory.
pub(crate) fn read_blocks(path: &Path, mut each: impl FnMut(&[u8])) -> Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|error| Error::io("could not open", path, error))?;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(|error| Error::io("could not read", path, error))?;
        if read == 0 {
            return Ok(());
        }
        each(&buffer[..read]);
    }
}
