//! The one error type of the crate, so callers can match on what went wrong
//! and people read a sentence that names the file or value and says what to do.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

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
}

impl fmt::Display for FileAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileAction::Read => "read",
            FileAction::Write => "write",
            FileAction::CreateDir => "create directory",
            FileAction::SetPermissions => "set permissions on",
        })
    }
}

/// Everything that can go wrong in `pki`.
///
/// Messages are lowercase sentences without a trailing period. They name the
/// file or value, and never contain key material or pass phrases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused a file operation.
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: FileAction,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
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
    #[error("the key {key} does not belong to the certificate {cert}")]
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
    #[error("openssl failed to {action}: {source}")]
    OpenSsl {
        /// What was being done.
        action: &'static str,
        /// OpenSSL's error queue.
        source: ErrorStack,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches what was being done to an OpenSSL failure.
pub(crate) trait OpenSslContext<T> {
    fn context(self, action: &'static str) -> Result<T>;
}

impl<T> OpenSslContext<T> for std::result::Result<T, ErrorStack> {
    fn context(self, action: &'static str) -> Result<T> {
        self.map_err(|source| Error::OpenSsl { action, source })
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
