//! `inferx model keygen|sign|verify`: detached model signatures in minisign's format.
//!
//! Signing uses the `minisign` crate (by minisign's author); verification is the runtime's
//! ([`inferx_runtime::model::signature`]), the same code that checks `model.public_key` at load.

use std::{io::IsTerminal, path::Path};

use anyhow::{bail, Context};
use inferx_runtime::model::signature::{self, SignatureCheck};
use minisign::{KeyPair, PublicKey, SecretKey, SecretKeyBox};

use crate::{
    cli::{KeygenArgs, ModelCommand, SignArgs, VerifyArgs},
    output::Printer,
};

/// The environment variable holding the secret key's password, for unattended signing.
const PASSWORD_ENV: &str = "INFERX_SIGNING_PASSWORD";

pub(crate) fn run(command: ModelCommand, printer: &Printer) -> anyhow::Result<()> {
    match command {
        ModelCommand::Keygen(args) => keygen(args, printer),
        ModelCommand::Sign(args) => sign(args, printer),
        ModelCommand::Verify(args) => verify(args, printer),
    }
}

fn keygen(args: KeygenArgs, printer: &Printer) -> anyhow::Result<()> {
    let secret_path = signature::with_added_extension(&args.path, "key");
    let public_path = signature::with_added_extension(&args.path, "pub");
    for path in [&secret_path, &public_path] {
        if path.exists() && !args.force {
            bail!(
                "{} already exists; a new key pair would orphan every signature made with it. Pass --force to replace it, or choose another path",
                path.display()
            );
        }
    }
    let KeyPair { pk, sk } = if args.no_password {
        KeyPair::generate_unencrypted_keypair()
    } else {
        KeyPair::generate_encrypted_keypair(Some(password(true)?))
    }
    .context("generating the key pair")?;
    let public_box = pk.to_box().context("encoding the public key")?.into_string();
    let secret_box = sk.to_box(None).context("encoding the secret key")?.into_string();
    // Both files are written in full beside their destination, then renamed: an interrupted
    // keygen leaves no half-written key.
    let secret = staged(&secret_path, &secret_box, true)?;
    let public = staged(&public_path, &public_box, false)?;
    secret.persist(&secret_path).with_context(|| format!("writing {}", secret_path.display()))?;
    public.persist(&public_path).with_context(|| format!("writing {}", public_path.display()))?;
    printer.status(format!(
        "wrote {} (secret: keep it out of the repository) and {}\nadd to inferx.yaml:\n  model:\n    public_key: {}",
        secret_path.display(),
        public_path.display(),
        pk.to_base64()
    ));
    Ok(())
}

fn sign(args: SignArgs, printer: &Printer) -> anyhow::Result<()> {
    let secret_key = read_secret_key(&args.secret_key)?;
    let model =
        std::fs::File::open(&args.model).with_context(|| format!("opening the model {}", args.model.display()))?;
    let name = args.model.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let comment = args.comment.unwrap_or_else(|| format!("file:{name}"));
    if comment.contains('\n') {
        bail!("--comment must be a single line");
    }
    let public_key = PublicKey::from_secret_key(&secret_key).context("deriving the public key")?;
    let signature = minisign::sign(Some(&public_key), &secret_key, model, Some(&comment), None)
        .with_context(|| format!("signing {}", args.model.display()))?;
    let destination = args.signature.unwrap_or_else(|| signature::default_signature_path(&args.model));
    staged(&destination, &signature.into_string(), false)?
        .persist(&destination)
        .with_context(|| format!("writing {}", destination.display()))?;
    printer.status(format!(
        "signed {} with key {}: {}\nprojects check it when inferx.yaml has\n  model:\n    public_key: {}",
        args.model.display(),
        key_id(&public_key),
        destination.display(),
        public_key.to_base64()
    ));
    Ok(())
}

fn verify(args: VerifyArgs, printer: &Printer) -> anyhow::Result<()> {
    let key_text = match Path::new(&args.public_key) {
        path if path.is_file() => {
            std::fs::read_to_string(path).with_context(|| format!("reading the public key {}", path.display()))?
        }
        _ => args.public_key.clone(),
    };
    let public_key = signature::parse_public_key(&key_text)
        .map_err(|reason| anyhow::anyhow!("--public-key: {reason}; give a .pub file or the `RW…` key it holds"))?;
    let check = SignatureCheck {
        public_key,
        signature: args.signature.unwrap_or_else(|| signature::default_signature_path(&args.model)),
    };
    signature::verify_model(&args.model, &check)?;
    printer.status(format!("{}: the signature {} is valid", args.model.display(), check.signature.display()));
    Ok(())
}

/// Reads a minisign secret key, asking for its password (or reading it from
/// `INFERX_SIGNING_PASSWORD`) only when the key is encrypted.
fn read_secret_key(path: &Path) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the secret key {}", path.display()))?;
    let not_a_key = || format!("{} is not a minisign secret key (make one with `inferx model keygen`)", path.display());
    if let Ok(key) = SecretKey::from_unencrypted_box(SecretKeyBox::from_string(&text).with_context(not_a_key)?) {
        return Ok(key);
    }
    let password = password(false)?;
    SecretKey::from_box(SecretKeyBox::from_string(&text).with_context(not_a_key)?, Some(password)).map_err(|error| {
        anyhow::anyhow!(
            "could not open the secret key {}: {error} (check {PASSWORD_ENV} or the password typed)",
            path.display()
        )
    })
}

/// The signing password: `INFERX_SIGNING_PASSWORD`, else typed at the terminal (twice for a
/// new key).
fn password(new_key: bool) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        if password.is_empty() {
            bail!("{PASSWORD_ENV} is empty; set the password, or make a key without one with --no-password");
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "the secret key needs a password and there is no terminal to ask it on: set {PASSWORD_ENV}{}",
            if new_key { ", or pass --no-password" } else { "" }
        );
    }
    let prompt = dialoguer::Password::new().with_prompt("Password for the secret key");
    let prompt = if new_key { prompt.with_confirmation("Repeat the password", "the passwords differ") } else { prompt };
    prompt.interact().context("reading the password")
}

/// A temporary file beside `destination` holding `text`, ready to be renamed into place.
fn staged(destination: &Path, text: &str, secret: bool) -> anyhow::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let folder = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // tempfile creates its files readable by the owner only: right for a secret key; a public
    // key or a signature gets the mode the umask gives (or keeps the one it had).
    let mut file =
        if secret { tempfile::NamedTempFile::new_in(folder) } else { crate::generator::temp_file_for(destination) }
            .with_context(|| format!("creating a file in {} for {}", folder.display(), destination.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", destination.display()))?;
    Ok(file)
}

/// The key id minisign prints (the public key file's comment holds the same).
fn key_id(public_key: &PublicKey) -> String {
    public_key.keynum().iter().rev().map(|byte| format!("{byte:02X}")).collect()
}
