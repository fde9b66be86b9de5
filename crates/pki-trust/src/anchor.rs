//! The CA certificate as the stores see it: its bytes, its fingerprint and
//! the names it is filed under.

use std::path::{Path, PathBuf};

use openssl::hash::{MessageDigest, hash};
use openssl::x509::X509;

use pki::Certificate;
use pki::{Error, Origin, Result};

/// A CA certificate to install, look for or remove.
///
/// Stores are searched by fingerprint, never by name, so a CA installed by
/// mkcert (or by hand) under another name is still recognised.
#[derive(Debug, Clone)]
pub struct Anchor {
    pem: Vec<u8>,
    der: Vec<u8>,
    fingerprint: String,
    subject: String,
    serial: String,
    file: Option<PathBuf>,
}

impl Anchor {
    /// The anchor for `ca`, which must be a CA certificate.
    pub fn new(ca: &Certificate) -> Result<Anchor> {
        if !ca.is_ca() {
            return Err(Error::NotCa {
                origin: Origin::Memory("the certificate to trust"),
            });
        }
        let der = ca.to_der()?;
        let digest = hash(MessageDigest::sha256(), &der).map_err(|cause| Error::OpenSsl {
            action: "hash the CA certificate",
            cause,
        })?;
        let fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Anchor {
            pem: ca.to_pem()?,
            der,
            fingerprint,
            subject: ca.subject(),
            serial: ca.serial_hex(),
            file: None,
        })
    }

    /// The anchor for the CA certificate in `path` (e.g. a CA directory's `rootCA.pem`).
    pub fn from_file(path: &Path) -> Result<Anchor> {
        let ca = Certificate::read(path)?;
        if !ca.is_ca() {
            return Err(Error::NotCa {
                origin: Origin::File(path.to_path_buf()),
            });
        }
        let mut anchor = Anchor::new(&ca)?;
        anchor.file = Some(path.to_path_buf());
        Ok(anchor)
    }

    /// The certificate in PEM.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The certificate in DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 fingerprint of the DER, lowercase hex without separators.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The CA's subject, one line.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The serial number in hex (how Windows' certutil finds a certificate).
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The file it was read from, if any (used in commands printed for the user).
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The name it is filed under: the subject's words and the start of the
    /// fingerprint, e.g. `pki-development-ca-alice-laptop-3f2a91c0`. Safe as
    /// a file name, an NSS nickname and a Java alias.
    pub fn name(&self) -> String {
        let mut slug = String::from("pki");
        let cn = self
            .subject
            .split(", ")
            .find_map(|part| part.strip_prefix("CN="))
            .unwrap_or(&self.subject);
        for word in cn
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty() && !w.eq_ignore_ascii_case("pki"))
        {
            if slug.len() > 48 {
                break;
            }
            slug.push('-');
            slug.push_str(&word.to_ascii_lowercase());
        }
        format!("{slug}-{}", &self.fingerprint[..8])
    }

    /// Whether `der` is this certificate.
    pub(crate) fn is(&self, der: &[u8]) -> bool {
        der == self.der.as_slice()
    }

    /// Whether any certificate in the PEM text `pem` is this one. Blocks that
    /// are not certificates, or not valid, are skipped.
    pub(crate) fn in_pem(&self, pem: &[u8]) -> bool {
        X509::stack_from_pem(pem)
            .map(|certs| certs.iter().any(|c| c.to_der().is_ok_and(|d| self.is(&d))))
            .unwrap_or(false)
    }

    /// Whether the PEM text `pem` holds this certificate and nothing else
    /// (a file that is safe to delete as ours).
    pub(crate) fn only_in_pem(&self, pem: &[u8]) -> bool {
        X509::stack_from_pem(pem).is_ok_and(|certs| {
            !certs.is_empty() && certs.iter().all(|c| c.to_der().is_ok_and(|d| self.is(&d)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pki::{Ca, CaParams, CertParams};

    #[test]
    fn names_are_safe_and_tied_to_the_fingerprint() {
        let ca =
            Ca::generate(&CaParams::new().common_name("pki development CA alice@laptop (Alice)"))
                .unwrap();
        let anchor = Anchor::new(ca.certificate()).unwrap();
        let name = anchor.name();
        assert!(
            name.starts_with("pki-development-ca-alice-laptop-alice-"),
            "{name}"
        );
        assert!(name.ends_with(&anchor.fingerprint()[..8]), "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_eq!(anchor.fingerprint().len(), 64);
    }

    #[test]
    fn finds_itself_among_other_certificates_only() {
        let ca = Ca::generate(&CaParams::new()).unwrap();
        let other = Ca::generate(&CaParams::new()).unwrap();
        let anchor = Anchor::new(ca.certificate()).unwrap();
        let mut bundle = other.certificate().to_pem().unwrap();
        assert!(!anchor.in_pem(&bundle));
        bundle.extend_from_slice(b"# a comment between blocks\n");
        bundle.extend_from_slice(anchor.pem());
        assert!(anchor.in_pem(&bundle));
        assert!(
            !anchor.only_in_pem(&bundle),
            "a file with another CA is not ours alone"
        );
        assert!(anchor.only_in_pem(anchor.pem()));
        assert!(!anchor.only_in_pem(b"not pem"));
    }

    #[test]
    fn refuses_a_leaf() {
        let ca = Ca::generate(&CaParams::new()).unwrap();
        let leaf = ca.issue(&CertParams::new(["localhost"]).unwrap()).unwrap();
        assert!(matches!(
            Anchor::new(leaf.certificate()),
            Err(Error::NotCa { .. })
        ));
    }
}
