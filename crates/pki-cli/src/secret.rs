//! Pass phrases and passwords: from a file (first line, as `openssl -passin
//! file:`), else asked on the terminal without echo, never from the command
//! line, where other users could read them in `ps`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use pki::{Error, Passphrase};

/// Whether the secret protects something new (asked twice, strength
/// checked) or opens something that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A new key or PKCS#12 file.
    New,
    /// An existing encrypted key or PKCS#12 file.
    Existing,
}

/// Reads the secret for `what` (e.g. "the new key ./a-key.pem") from `file`,
/// or asks for it on the terminal; `flag` names the option that gives a file.
pub fn obtain(file: Option<&Path>, what: &str, flag: &str, purpose: Purpose) -> Result<Passphrase> {
    let secret = match file {
        Some(path) => Passphrase::from_file_contents(&pki::fs::read_secret(path)?),
        None => prompt(what, flag, purpose)?,
    };
    if purpose == Purpose::New {
        secret
            .check_strength()
            .with_context(|| format!("cannot protect {what}"))?;
    }
    Ok(secret)
}

fn prompt(what: &str, flag: &str, purpose: Purpose) -> Result<Passphrase> {
    if !std::io::stdin().is_terminal() {
        bail!("{what} needs a pass phrase and there is no terminal to ask on; pass {flag} FILE");
    }
    let read = |question: String| {
        rpassword::prompt_password(question)
            .with_context(|| format!("failed to read the pass phrase for {what} from the terminal"))
    };
    let first = Passphrase::from(read(format!("Pass phrase for {what}: "))?);
    if purpose == Purpose::New {
        let again = Passphrase::from(read("Again, to confirm: ".to_owned())?);
        if again.as_bytes() != first.as_bytes() {
            bail!("the two pass phrases for {what} differ; nothing was written, try again");
        }
    }
    Ok(first)
}

/// Runs `load` without a pass phrase, and once more with one from `file` or
/// the terminal if what it reads turns out to be encrypted.
pub fn with_passphrase<T>(
    file: Option<&Path>,
    what: &str,
    flag: &str,
    load: impl Fn(Option<&Passphrase>) -> pki::Result<T>,
) -> Result<T> {
    if let Some(path) = file {
        let secret = obtain(Some(path), what, flag, Purpose::Existing)?;
        return Ok(load(Some(&secret))?);
    }
    match load(None) {
        Err(Error::PassphraseRequired { .. }) => {
            let secret = obtain(None, what, flag, Purpose::Existing)?;
            Ok(load(Some(&secret))?)
        }
        other => Ok(other?),
    }
}

/// The pass phrase for a new key, if `encrypt` asks for one.
pub fn for_new_key(
    protection: &crate::cli::KeyProtection,
    what: &str,
) -> Result<Option<Passphrase>> {
    if !protection.encrypt_key && protection.passphrase_file.is_none() {
        return Ok(None);
    }
    obtain(
        protection.passphrase_file.as_deref(),
        what,
        "--passphrase-file",
        Purpose::New,
    )
    .map(Some)
}
