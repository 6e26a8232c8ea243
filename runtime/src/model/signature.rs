//! Detached model signatures in [minisign](https://jedisct1.github.io/minisign/)'s format
//! (ed25519 over the file's BLAKE2b-512 hash): a project whose `inferx.yaml` sets
//! `model.public_key` loads only a model whose `.minisig` file verifies with that key.
//!
//! Signatures made by `inferx model sign`, by `minisign -S` or by `rsign` all verify here.
//! Verification streams the file, so a model of any size costs one read.

use std::path::{Path, PathBuf};

use minisign_verify::{PublicKey, Signature};

use crate::{project_files::SMALL_FILE_LIMIT, Error, Result};

/// The suffix of a detached signature beside the file it signs (`model.onnx.minisig`).
pub const SIGNATURE_SUFFIX: &str = "minisig";

/// A signature the model must carry before it is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The signer's minisign public key, base64 (the second line of a `.pub` file, `RW…`).
    pub public_key: String,
    /// The detached signature file.
    pub signature: PathBuf,
}

impl SignatureCheck {
    /// The check of `model` with `public_key`, the signature beside the model.
    pub fn beside(model: &Path, public_key: impl Into<String>) -> SignatureCheck {
        SignatureCheck { public_key: public_key.into(), signature: default_signature_path(model) }
    }
}

/// Where a model's signature is by default: `<model>.minisig`.
pub fn default_signature_path(model: &Path) -> PathBuf {
    with_added_extension(model, SIGNATURE_SUFFIX)
}

/// Whether two paths name the same place: equal, or the same file name in the same folder
/// once resolved (the model's real path against the config's relative one).
fn same_place(one: &Path, other: &Path) -> bool {
    let folder = |path: &Path| {
        let parent = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::canonicalize(parent).ok()
    };
    one == other || (one.file_name() == other.file_name() && folder(one).is_some() && folder(one) == folder(other))
}

/// `path` with `.extension` added after its whole name (`model.onnx` → `model.onnx.minisig`),
/// where `Path::with_extension` would replace the last one.
pub fn with_added_extension(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// Parses a minisign public key: the base64 key itself, or the text of a `.pub` file (an
/// `untrusted comment:` line, then the key).
pub fn parse_public_key(text: &str) -> std::result::Result<String, String> {
    let key = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("untrusted comment:"))
        .ok_or_else(|| "it is empty".to_string())?;
    PublicKey::from_base64(key).map_err(|error| format!("`{key}` is not a minisign public key ({error})"))?;
    Ok(key.to_string())
}

/// Verifies that `model` carries a valid signature made with the check's key.
///
/// Every refusal is an [`Error::ModelSignature`] that says which file is at fault and how to fix
/// it: the signature missing, not a minisign signature, made with another key, or not matching
/// the file's bytes (the model or its signature changed after signing).
pub fn verify_model(model: &Path, check: &SignatureCheck) -> Result<()> {
    let refuse = |reason: String| Error::ModelSignature { path: model.to_path_buf(), reason };
    let signature_path = &check.signature;
    let public_key = PublicKey::from_base64(check.public_key.trim())
        .map_err(|error| refuse(format!("model.public_key is not a minisign public key ({error})")))?;
    // Bounded and non-blocking: a signature is a few hundred bytes, never a FIFO or a device.
    let read = crate::project_files::read_plain_file(signature_path, "signature", SMALL_FILE_LIMIT);
    let text = match read {
        Ok(text) => text,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let elsewhere = if same_place(signature_path, &default_signature_path(model)) {
                String::new()
            } else {
                format!(" --signature {}", signature_path.display())
            };
            return Err(refuse(format!(
                "its signature `{}` does not exist; sign the model with `inferx model sign {} --secret-key KEY{elsewhere}`",
                signature_path.display(),
                model.display()
            )));
        }
        Err(error) => {
            return Err(refuse(format!(
                "could not read its signature `{}`: {}",
                signature_path.display(),
                error.reason()
            )))
        }
    };
    let signature = Signature::decode(&text).map_err(|error| {
        refuse(format!("`{}` is not a minisign signature ({error}); sign the model again", signature_path.display()))
    })?;
    let mut verifier = public_key.verify_stream(&signature).map_err(|error| match error {
        minisign_verify::Error::UnexpectedKeyId => refuse(format!(
            "`{}` was made with another key than the public key it is checked with; sign the model with the key whose public half is configured (model.public_key)",
            signature_path.display()
        )),
        minisign_verify::Error::UnsupportedLegacyMode => refuse(format!(
            "`{}` is a legacy minisign signature (not pre-hashed); sign the model again with `inferx model sign` or `minisign -S`",
            signature_path.display()
        )),
        other => refuse(format!("`{}` cannot be checked: {other}", signature_path.display())),
    })?;
    crate::model::file::read_blocks(model, |block| verifier.update(block))?;
    verifier.finalize().map_err(|_| {
        refuse(format!(
            "`{}` does not match the file: the model or its signature changed after signing (sign it again if the change is yours)",
            signature_path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with the reference tool, minisign 0.11 (Debian): `minisign -G -W`, then
    // `minisign -S -m signed.txt -t '…'` over the bytes of `CONTENT`.
    const CONTENT: &[u8] = b"a model, signed by the reference minisign tool\n";
    const PUBLIC_KEY: &str = "RWSDGFoFQ1w9rxPo00CMIA5QWD2Sph0dwvZ84TzTR46XJcn5mie2cPBL";
    const SIGNATURE: &str = "untrusted comment: signature from minisign secret key
RUSDGFoFQ1w9r9ynXkceLTqWr0YBXi+m8aBQgkh8bQ3UXFSy12VuApz8jrEhFrgDQpdYBrzr1+K0npxYo/zPPiktdm0NGvNRUAc=
trusted comment: signed by minisign 0.11 for the inferx-runtime tests
a5E69CBjwu/apZQ6kImsBlLOD5eL6UwEdQQPp6bx8TyrodqhjV9JWRW3utSOTPkLsniWO/EwCohwscz8GPnKCQ==
";

    fn signed_file(dir: &Path, content: &[u8]) -> (PathBuf, SignatureCheck) {
        let model = dir.join("model.onnx");
        std::fs::write(&model, content).unwrap();
        std::fs::write(default_signature_path(&model), SIGNATURE).unwrap();
        let check = SignatureCheck::beside(&model, PUBLIC_KEY);
        (model, check)
    }

    #[test]
    fn a_minisign_signature_verifies_and_any_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (model, check) = signed_file(dir.path(), CONTENT);
        assert_eq!(check.signature, dir.path().join("model.onnx.minisig"));
        verify_model(&model, &check).unwrap();

        std::fs::write(&model, b"a model, signed by the reference minisign tool!\n").unwrap();
        let error = verify_model(&model, &check).unwrap_err().to_string();
        assert!(error.contains("does not match the file: the model or its signature changed after signing"), "{error}");

        std::fs::remove_file(&check.signature).unwrap();
        let error = verify_model(&model, &check).unwrap_err().to_string();
        assert!(
            error.contains("model.onnx.minisig` does not exist; sign the model with `inferx model sign"),
            "{error}"
        );
    }

    #[test]
    fn another_key_a_garbled_signature_and_a_bad_key_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (model, mut check) = signed_file(dir.path(), CONTENT);
        // Another signer's key (the example key of minisign's documentation).
        check.public_key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3".into();
        let error = verify_model(&model, &check).unwrap_err().to_string();
        assert!(error.contains("was made with another key than the public key it is checked with"), "{error}");

        check.public_key = "not a key".into();
        let error = verify_model(&model, &check).unwrap_err().to_string();
        assert!(error.contains("model.public_key is not a minisign public key"), "{error}");

        check.public_key = PUBLIC_KEY.into();
        std::fs::write(&check.signature, "untrusted comment: x\nnot base64 at all\n").unwrap();
        let error = verify_model(&model, &check).unwrap_err().to_string();
        assert!(error.contains("is not a minisign signature"), "{error}");
    }

    #[test]
    fn public_keys_are_read_bare_or_from_a_pub_file() {
        assert_eq!(parse_public_key(PUBLIC_KEY).unwrap(), PUBLIC_KEY);
        let file = format!("untrusted comment: minisign public key AF3D5C43055A1883\n{PUBLIC_KEY}\n");
        assert_eq!(parse_public_key(&file).unwrap(), PUBLIC_KEY);
        assert!(parse_public_key("").unwrap_err().contains("empty"));
        assert!(parse_public_key("RWQ").unwrap_err().contains("is not a minisign public key"));
    }
}
