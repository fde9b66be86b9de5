//! Who may connect with mutual TLS: the client CAs, an optional CRL, and the
//! rules OpenSSL's chain check leaves to the application.
//!
//! Three things here are easy to get wrong with plain OpenSSL:
//! - A certificate with `CA:TRUE` issued by a trusted CA may carry
//!   `clientAuth`, so OpenSSL accepts it as a client. Browsers refuse a CA as
//!   an end entity, and so does `refuse_ca_leaf`.
//! - A resumed session skips certificate verification. Resumption is bound
//!   to the policy that verified the client by the session id context
//!   (`ClientVerification::session_id_context`): a digest of the client CAs
//!   and the CRL, so changing either ends the resumption of every earlier
//!   session (see `docs/security.md`).
//! - An expired CRL makes OpenSSL refuse every client, good ones included,
//!   without a word; [`CrlProblem`] says so, with the date and the fix.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::sha::Sha256;
use openssl::x509::{X509StoreContextRef, X509VerifyResult};
use pki::Certificate;

use crate::error::{Error, Result};
use crate::reload::Stamp;

/// Whether a client certificate is asked for, and whether one is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Asked for; a client without one is let in, one with a bad one is refused.
    Optional,
    /// Refused in the handshake without a valid certificate from a trusted CA.
    Required,
}

/// How client certificates are checked: the CAs that may issue them, and
/// optionally a CRL of revoked ones.
#[derive(Debug, Clone)]
pub struct ClientVerification {
    mode: ClientAuth,
    cas: Vec<Certificate>,
    /// The file the CAs came from, watched for changes when reloading, and
    /// its version before it was read.
    ca_file: Option<(PathBuf, Stamp)>,
    crl: Option<LoadedCrl>,
}

/// A CRL as it was read: where from, in which encoding, what it said.
#[derive(Debug, Clone)]
pub(crate) struct LoadedCrl {
    pub(crate) path: PathBuf,
    /// PEM, else DER.
    pub(crate) pem: bool,
    /// The file's version before it was read.
    stamp: Stamp,
    digest: [u8; 32],
    problem: Option<CrlProblem>,
}

impl ClientVerification {
    /// Clients must (or may) present a certificate issued by one of `cas`.
    pub fn new(mode: ClientAuth, cas: Vec<Certificate>) -> Self {
        ClientVerification {
            mode,
            cas,
            ca_file: None,
            crl: None,
        }
    }

    /// Reads the trusted CAs from a PEM file (one or more certificates); a
    /// server reloading its files reads this one again when it changes.
    pub fn from_file(mode: ClientAuth, path: &Path) -> Result<Self> {
        let stamp = Stamp::of(&[path]);
        let mut verification = Self::new(mode, read_cas(path)?);
        verification.ca_file = Some((path.to_path_buf(), stamp));
        Ok(verification)
    }

    /// Refuses client certificates that this CRL (PEM or DER) revokes.
    pub fn crl_file(mut self, path: &Path) -> Result<Self> {
        // Parsed here first, so a bad file is refused with its name.
        let stamp = Stamp::of(&[path]);
        let bytes = pki::fs::read(path)?;
        let crl = pki::crl::Crl::from_bytes(&bytes).map_err(|e| match e {
            pki::Error::Malformed {
                expected, reason, ..
            } => pki::Error::Malformed {
                origin: pki::Origin::File(path.to_path_buf()),
                expected,
                reason,
            },
            other => other,
        })?;
        // A CRL from another CA would make OpenSSL refuse every client
        // ("unable to get CRL"), so it is refused here instead.
        let signed_by_a_client_ca = self.cas.iter().any(|ca| {
            ca.as_x509()
                .public_key()
                .and_then(|key| crl.as_x509_crl().verify(&key))
                .unwrap_or(false)
        });
        if !signed_by_a_client_ca {
            return Err(Error::CrlFromOtherCa {
                path: path.to_path_buf(),
            });
        }
        if path.to_str().is_none_or(|s| s.contains('\0')) {
            return Err(Error::UnusablePath {
                path: path.to_path_buf(),
                reason: "OpenSSL reads CRLs only from UTF-8 paths; rename the file",
            });
        }
        // OpenSSL's PEM reader skips text before the block (`openssl crl -text` output).
        let pem = bytes
            .windows(b"-----BEGIN X509 CRL-----".len())
            .any(|w| w == b"-----BEGIN X509 CRL-----");
        self.crl = Some(LoadedCrl {
            path: path.to_path_buf(),
            pem,
            stamp,
            digest: openssl::sha::sha256(&bytes),
            problem: CrlProblem::of(path, &crl),
        });
        Ok(self)
    }

    /// Whether a certificate is required or only asked for.
    pub fn mode(&self) -> ClientAuth {
        self.mode
    }

    /// Why the CRL will refuse clients it should not (expired, not yet
    /// valid, an unreadable next-update date), if it will.
    pub fn crl_problem(&self) -> Option<&CrlProblem> {
        self.crl.as_ref()?.problem.as_ref()
    }

    /// The same verification read again from its files.
    pub fn reread(&self) -> Result<Self> {
        let mut fresh = match &self.ca_file {
            Some((path, _)) => Self::from_file(self.mode, path)?,
            None => Self::new(self.mode, self.cas.clone()),
        };
        if let Some(crl) = &self.crl {
            fresh = fresh.crl_file(&crl.path)?;
        }
        Ok(fresh)
    }

    /// The session id context of sessions this policy verified: a digest of
    /// the client CAs and the CRL. OpenSSL resumes a session (by id or by
    /// ticket) only under the context it was made in, so a new CRL or new
    /// client CAs end the resumption of every earlier session, and a client
    /// revoked since must show its certificate again.
    pub(crate) fn session_id_context(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(b"actix-https client verification\0");
        for ca in &self.cas {
            if let Ok(fingerprint) = ca.as_x509().digest(MessageDigest::sha256()) {
                digest.update(&fingerprint);
            }
        }
        if let Some(crl) = &self.crl {
            digest.update(&crl.digest);
        }
        digest.finish()
    }

    /// The client-CA file, if the CAs came from one.
    pub(crate) fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_ref().map(|(path, _)| path.as_path())
    }

    /// The CRL file, if there is one.
    pub(crate) fn crl_path(&self) -> Option<&Path> {
        self.crl.as_ref().map(|crl| crl.path.as_path())
    }

    /// The versions of the client-CA file and the CRL that were read.
    pub(crate) fn stamps(&self) -> (Option<Stamp>, Option<Stamp>) {
        (
            self.ca_file.as_ref().map(|(_, stamp)| stamp.clone()),
            self.crl.as_ref().map(|crl| crl.stamp.clone()),
        )
    }

    /// The versions of the same files on disk now.
    pub(crate) fn stamps_on_disk(&self) -> (Option<Stamp>, Option<Stamp>) {
        (
            self.ca_file().map(|path| Stamp::of(&[path])),
            self.crl_path().map(|path| Stamp::of(&[path])),
        )
    }

    pub(crate) fn cas(&self) -> &[Certificate] {
        &self.cas
    }

    pub(crate) fn crl(&self) -> Option<&LoadedCrl> {
        self.crl.as_ref()
    }
}

/// The CA certificates of a client-CA file; a file without one is refused.
fn read_cas(path: &Path) -> Result<Vec<Certificate>> {
    let cas: Vec<Certificate> = Certificate::read_all(path)?
        .into_iter()
        .filter(Certificate::is_ca)
        .collect();
    if cas.is_empty() {
        return Err(Error::NoClientCa {
            path: path.to_path_buf(),
        });
    }
    Ok(cas)
}

/// The part of certificate verification OpenSSL leaves to us: once the chain
/// verified, a client certificate that claims to be a CA (`CA:TRUE`) and was
/// issued by a client CA is refused, as browsers refuse a CA as a server
/// certificate: a CA is there to issue identities, not to be one, and
/// OpenSSL's `sslclient` purpose lets it through. A self-signed one is
/// trusted only if it is itself in the client-CA file, which is the
/// operator's explicit choice, so it passes. Use as the verify callback.
pub(crate) fn refuse_ca_leaf(preverified: bool, ctx: &mut X509StoreContextRef) -> bool {
    if !preverified || ctx.error_depth() != 0 {
        return preverified;
    }
    let issued_ca = ctx.current_cert().is_some_and(|cert| {
        let cert = Certificate::from_x509(cert.to_owned());
        cert.claims_ca() && !cert.is_self_issued()
    });
    if issued_ca {
        ctx.set_error(X509VerifyResult::APPLICATION_VERIFICATION);
        return false;
    }
    true
}

/// Why a CRL will refuse clients it should not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlProblem {
    /// Its nextUpdate has passed: OpenSSL refuses every client certificate.
    Expired {
        /// The CRL file.
        path: PathBuf,
        /// Its nextUpdate.
        next_update: SystemTime,
    },
    /// Its thisUpdate is still ahead: OpenSSL refuses every client certificate.
    NotYetValid {
        /// The CRL file.
        path: PathBuf,
        /// Its thisUpdate.
        this_update: SystemTime,
    },
    /// Its nextUpdate cannot be read as a date (as a `--days` far past year
    /// 9999 writes it): OpenSSL refuses every client certificate.
    UnreadableNextUpdate {
        /// The CRL file.
        path: PathBuf,
    },
}

impl CrlProblem {
    fn of(path: &Path, crl: &pki::crl::Crl) -> Option<Self> {
        let path = path.to_path_buf();
        let now = Asn1Time::days_from_now(0).ok()?;
        let x509 = crl.as_x509_crl();
        if x509.last_update().compare(&now).ok()?.is_gt() {
            return Some(CrlProblem::NotYetValid {
                path,
                this_update: crl.this_update(),
            });
        }
        let next = x509.next_update()?;
        match next.compare(&now) {
            Err(_) => Some(CrlProblem::UnreadableNextUpdate { path }),
            Ok(order) if order.is_le() => Some(CrlProblem::Expired {
                path,
                next_update: crl.next_update()?,
            }),
            Ok(_) => None,
        }
    }
}

impl fmt::Display for CrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, what) = match self {
            CrlProblem::Expired { path, next_update } => (
                path,
                format!(
                    "expired on {} (its next update)",
                    pki::time::format_time(*next_update)
                ),
            ),
            CrlProblem::NotYetValid { path, this_update } => (
                path,
                format!(
                    "is not valid until {}",
                    pki::time::format_time(*this_update)
                ),
            ),
            CrlProblem::UnreadableNextUpdate { path } => (
                path,
                "has a next-update date that cannot be read".to_owned(),
            ),
        };
        write!(
            f,
            "the CRL {} {what}, so every client certificate is refused, valid ones included; \
             write a fresh one with `pki crl` (add --ca-dir for a CA other than your local one) \
             and the server picks it up by itself",
            path.display()
        )
    }
}
