//! The one error type of the crate, so callers can match on what went wrong
//! and people read a sentence that names the file or value and says what to do.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use openssl::error::ErrorStack;

use crate::name::NameError;

/// Where an input came from, so that messages can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from this file.
    File(PathBuf),
    /// Handed over in memory; the string says what it was ("the key", "the CSR").
    Memory(&'static str),
}

impl Origin {
    pub(crate) fn file(path: &Path) -> Self {
        Origin::File(path.to_path_buf())
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Memory(what) => f.write_str(what),
        }
    }
}

/// What the crate was doing with a file when the operating system said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// Reading it.
    Read,
    /// Writing it (through a temp file in the same directory).
    Write,
    /// Creating a directory.
    CreateDir,
    /// Setting its permissions.
    SetPermissions,
    /// Removing it.
    Remove,
    /// Locking it (the CA directory's lock file).
    Lock,
}

impl fmt::Display for FileAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileAction::Read => "read",
            FileAction::Write => "write",
            FileAction::CreateDir => "create directory",
            FileAction::SetPermissions => "set permissions on",
            FileAction::Remove => "remove",
            FileAction::Lock => "lock",
        })
    }
}

/// Everything that can go wrong in `pki`.
///
/// Messages are lowercase sentences without a trailing period. They name the
/// file or value, and never contain key material or pass phrases.
///
/// An operating-system or OpenSSL error inside a variant is part of its
/// message (the `cause` field), not its `source()`: each cause then shows
/// once, whether the error is printed on its own or its chain is walked
/// (`{:#}` in anyhow).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused a file operation.
    #[error("failed to {action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: FileAction,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        cause: io::Error,
    },

    /// Two outputs were given one path.
    #[error("the certificate and the key would both be written to {}; give each its own file", path.display())]
    SamePath {
        /// The path given twice.
        path: PathBuf,
    },

    /// A file that must not be overwritten is already there.
    #[error("{} already exists; move it away or choose another path", path.display())]
    AlreadyExists {
        /// The file that is in the way.
        path: PathBuf,
    },

    /// The input is not in the expected encoding at all.
    #[error("{origin} is not a valid {expected}: {reason}")]
    Malformed {
        /// Where the input came from.
        origin: Origin,
        /// What it was expected to be ("private key", "certificate", "CSR").
        expected: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The input is valid PEM, but of another kind than expected.
    #[error(
        "{origin} holds a {found}, not a {expected}; check the file name and order of arguments"
    )]
    WrongKind {
        /// Where the input came from.
        origin: Origin,
        /// What it was expected to be.
        expected: &'static str,
        /// What it is, from its PEM label.
        found: String,
    },

    /// The key is encrypted and no pass phrase was given.
    #[error("{origin} is encrypted: a pass phrase is needed to read it")]
    PassphraseRequired {
        /// The key.
        origin: Origin,
    },

    /// The pass phrase did not decrypt the key (or PKCS#12 file).
    #[error("the pass phrase for {origin} is wrong")]
    WrongPassphrase {
        /// The key.
        origin: Origin,
    },

    /// A pass phrase too short to encrypt with.
    #[error("the pass phrase is too short; choose one of at least {min} characters", min = crate::passphrase::MIN_LEN)]
    PassphraseTooShort,

    /// A name typed by a user cannot go into a certificate.
    #[error("{input:?} is not a valid name: {reason}")]
    InvalidName {
        /// What the user typed.
        input: String,
        /// The rule it broke.
        reason: NameError,
    },

    /// A certificate was asked for without any name.
    #[error("a certificate needs at least one name (DNS name, IP address, email or URI)")]
    NoNames,

    /// A name lies outside the name constraints of the issuing CA.
    #[error(
        "{name} is outside what the CA may issue for (permitted: {permitted}); use another CA or drop the name"
    )]
    OutsideNameConstraints {
        /// The offending name.
        name: String,
        /// The CA's permitted subtrees, comma separated.
        permitted: String,
    },

    /// The CSR's self-signature does not verify.
    #[error("the signature of {origin} does not verify: it was altered or signed with another key")]
    CsrSignature {
        /// The CSR.
        origin: Origin,
    },

    /// The CSR asks to become a CA.
    #[error("{origin} asks for CA:TRUE; pki signs end-entity certificates only from CSRs")]
    CsrRequestsCa {
        /// The CSR.
        origin: Origin,
    },

    /// The private key does not belong to the certificate.
    #[error(
        "the key {key} does not belong to the certificate {cert}; give the key the certificate was issued for"
    )]
    KeyMismatch {
        /// The certificate.
        cert: Origin,
        /// The key.
        key: Origin,
    },

    /// A certificate loaded as a CA is not one.
    #[error("{origin} is not a CA certificate (no basicConstraints CA:TRUE with keyCertSign)")]
    NotCa {
        /// The certificate.
        origin: Origin,
    },

    /// The CA's pathlen forbids issuing another CA under it (mkcert's roots have pathlen 0).
    #[error(
        "the CA '{subject}' has pathlen 0: it may issue leaf certificates only, not an intermediate CA; create a new root for intermediates"
    )]
    PathLenZero {
        /// The CA's subject.
        subject: String,
    },

    /// A CA directory lacks one of its files.
    #[error("the CA in {} is incomplete: {} is missing; restore it or create a new CA in another directory", dir.display(), missing.display())]
    CaIncomplete {
        /// The CA directory.
        dir: PathBuf,
        /// The missing file.
        missing: PathBuf,
    },

    /// There is no CA in the directory.
    #[error("there is no CA in {}: {} does not exist; create one first", dir.display(), cert.display())]
    NoCa {
        /// The CA directory.
        dir: PathBuf,
        /// The certificate file that was looked for.
        cert: PathBuf,
    },

    /// A CA already exists where a new one was to be created.
    #[error("a CA already exists in {}; load it, or choose another directory", dir.display())]
    CaExists {
        /// The CA directory.
        dir: PathBuf,
    },

    /// The requested validity period is impossible or not allowed.
    #[error("invalid validity: {reason}")]
    Validity {
        /// What is wrong.
        reason: String,
    },

    /// A serial number typed by a user is not hex.
    #[error(
        "{input:?} is not a serial number; give it in hex as `openssl x509 -noout -serial` prints it"
    )]
    InvalidSerial {
        /// What was typed.
        input: String,
    },

    /// A serial number longer than RFC 5280 allows, so no certificate has it.
    #[error(
        "the serial number {shown} is {octets} octets long; RFC 5280 §4.1.2.2 allows at most 20 (40 hex digits), so no certificate carries it: check what was copied"
    )]
    SerialTooLong {
        /// The start of what was typed, shortened for the message.
        shown: String,
        /// Its length in octets.
        octets: usize,
    },

    /// A validity end past what X.509 dates can express.
    #[error(
        "the validity would end on {}, after {}, the latest date a certificate or CRL can carry (RFC 5280 §4.1.2.5); choose fewer days or an earlier end",
        crate::time::format_time(*end),
        crate::time::format_time(crate::time::latest_not_after())
    )]
    PastLatestTime {
        /// The end asked for.
        end: SystemTime,
    },

    /// The issuing CA's own validity is over.
    #[error(
        "the CA '{subject}' expired on {}; it can issue nothing more: create a new CA (`pki ca create` in another directory, or after moving this one away) and trust it in place of the old one",
        crate::time::format_time(*expired)
    )]
    CaExpired {
        /// The CA's subject.
        subject: String,
        /// Its notAfter.
        expired: SystemTime,
    },

    /// A key that clients refuse, or that pki does not issue for.
    #[error(
        "{origin} holds {key}, which {reason}; make a new key with `pki key new FILE` (P-256 by default; --key-type rsa2048 or larger for RSA) and a new CSR with `pki csr new --key FILE NAMES`"
    )]
    WeakKey {
        /// The CSR (or certificate) carrying the key.
        origin: Origin,
        /// What the key is (`an RSA 1024-bit key`).
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// Something other than a regular file where a file was to be read.
    #[error(
        "{} is {kind}, not a regular file; pki reads certificates, keys, CSRs and CRLs from regular files only", path.display()
    )]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is (`a directory`, `a named pipe (FIFO)`, …).
        kind: &'static str,
    },

    /// A file far larger than anything pki reads could be.
    #[error(
        "{} is larger than {}; no {what} is that large: check the file name", path.display(), crate::fs::size_text(*limit)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
        /// What the file was to be (`certificate, key, CSR or CRL`).
        what: &'static str,
    },

    /// A directory was needed and the path is something else.
    #[error("{} is {what}; {advice}", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
        /// What it is (`a file, not a directory`, `a symbolic link to /x, which does not exist`).
        what: String,
        /// What to do.
        advice: &'static str,
    },

    /// A directory whose contents this user may not see.
    #[error(
        "permission denied: cannot look into the directory {}; run pki as the user who owns it, or fix its permissions (ls -ld {})", dir.display(), dir.display()
    )]
    DirUnreadable {
        /// The directory.
        dir: PathBuf,
    },

    /// A password cannot be used.
    #[error("the password cannot be used: {reason}")]
    InvalidPassword {
        /// Why.
        reason: &'static str,
    },

    /// The linked OpenSSL cannot do what was asked.
    #[error("not supported here: {what}")]
    Unsupported {
        /// What is missing.
        what: &'static str,
    },

    /// A subject field cannot be encoded.
    #[error("invalid subject field {field}={value:?}: {reason}")]
    InvalidSubject {
        /// The field name (CN, O, OU).
        field: &'static str,
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
    },

    /// OpenSSL failed at something that should not fail on valid input.
    #[error("openssl failed to {action}: {cause}")]
    OpenSsl {
        /// What was being done.
        action: &'static str,
        /// OpenSSL's error queue.
        cause: ErrorStack,
    },
}

impl Error {
    /// Names `origin` where the error names an in-memory input ("the key"):
    /// for parsers handed the bytes of a file, so the message names the file.
    pub(crate) fn at(mut self, origin: &Origin) -> Self {
        let slot = match &mut self {
            Error::Malformed { origin, .. }
            | Error::WrongKind { origin, .. }
            | Error::PassphraseRequired { origin }
            | Error::WrongPassphrase { origin }
            | Error::CsrSignature { origin }
            | Error::CsrRequestsCa { origin }
            | Error::NotCa { origin }
            | Error::WeakKey { origin, .. } => Some(origin),
            _ => None,
        };
        if let Some(slot) = slot
            && matches!(slot, Origin::Memory(_))
        {
            *slot = origin.clone();
        }
        self
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches what was being done to an OpenSSL failure.
pub(crate) trait OpenSslContext<T> {
    fn context(self, action: &'static str) -> Result<T>;
}

impl<T> OpenSslContext<T> for std::result::Result<T, ErrorStack> {
    fn context(self, action: &'static str) -> Result<T> {
        self.map_err(|source| Error::OpenSsl {
            action,
            cause: source,
        })
    }
}

/// Sums up an OpenSSL error queue for a person, without file names and line
/// numbers of OpenSSL's own sources.
pub(crate) fn openssl_reason(stack: &ErrorStack) -> String {
    let reasons: Vec<String> = stack
        .errors()
        .iter()
        .filter_map(|e| e.reason().map(str::to_owned))
        .collect();
    if reasons.is_empty() {
        "unrecognised data".to_owned()
    } else {
        reasons.join(", ")
    }
}
