//! The one error type of the library: every message names the file or value
//! and says what to do, and none carries key material.

use std::path::PathBuf;

/// What can go wrong setting up TLS.
///
/// An operating-system or OpenSSL error inside a variant is part of its
/// message (the `cause` field), not its `source()`: each cause then shows
/// once, whether the error is printed on its own or its chain is walked
/// (`{:#}` in anyhow).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or parsing a certificate, key or CRL failed (the message names the file).
    #[error(transparent)]
    Pki(#[from] pki::Error),
    /// The certificate to serve is a CA certificate.
    #[error(
        "{} is a CA certificate ({subject}, CA:TRUE) issued by another CA: browsers refuse a CA as a server's certificate, and serving it hands out a certificate that can issue others; serve a certificate it issued instead (`pki cert localhost` makes one)",
        cert.display()
    )]
    CaAsLeaf {
        /// The certificate file.
        cert: PathBuf,
        /// Its subject.
        subject: String,
    },
    /// A `--sni` value that is not `HOST=CERT,KEY`.
    #[error("invalid SNI entry {input:?}: {reason}")]
    InvalidSni {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A client-CA file without a CA certificate.
    #[error("{} holds no CA certificate to verify clients against; give the CA that issued the client certificates", path.display())]
    NoClientCa {
        /// The file.
        path: PathBuf,
    },
    /// A CRL not signed by any of the client CAs.
    #[error("{} is not signed by any of the client CAs, so it cannot say which of their certificates are revoked; give the CRL of the CA in --client-ca (`pki crl` writes it)", path.display())]
    CrlFromOtherCa {
        /// The CRL file.
        path: PathBuf,
    },
    /// A path OpenSSL cannot be given.
    #[error("{}: {reason}", path.display())]
    UnusablePath {
        /// The path.
        path: PathBuf,
        /// Why, and what to do.
        reason: &'static str,
    },
    /// A background thread could not be started.
    #[error("failed to start {what}: {cause}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The system's error.
        cause: std::io::Error,
    },
    /// OpenSSL refused part of the TLS setup.
    #[error("OpenSSL refused to {action}: {cause}")]
    OpenSsl {
        /// What was being done.
        action: &'static str,
        /// OpenSSL's errors.
        cause: openssl::error::ErrorStack,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait Context<T> {
    fn context(self, action: &'static str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, openssl::error::ErrorStack> {
    fn context(self, action: &'static str) -> Result<T> {
        self.map_err(|source| Error::OpenSsl {
            action,
            cause: source,
        })
    }
}
