//! A server's identity: its certificate, the intermediates it sends, and its
//! key, checked to belong together before anything binds.

use std::fmt;
use std::path::{Path, PathBuf};

use pki::{Certificate, Issued, Passphrase, PrivateKey};

use crate::error::{Error, Result};

/// A certificate (with its chain) and the matching private key.
#[derive(Clone)]
pub struct Identity {
    certificate: Certificate,
    chain: Vec<Certificate>,
    key: PrivateKey,
}

impl Identity {
    /// From parts; the key must be the certificate's.
    pub fn new(certificate: Certificate, chain: Vec<Certificate>, key: PrivateKey) -> Result<Self> {
        let in_memory = PathBuf::from("(certificate in memory)");
        if !certificate.matches_key(&key) {
            return Err(Error::KeyMismatch {
                cert: in_memory,
                key: PathBuf::from("(key in memory)"),
            });
        }
        refuse_ca(&certificate, &in_memory)?;
        Ok(Identity {
            certificate,
            chain,
            key,
        })
    }

    /// What a [`pki::Ca`] just issued (the root is left out of the chain:
    /// clients have it already).
    pub fn from_issued(issued: &Issued) -> Self {
        Identity {
            certificate: issued.certificate.clone(),
            chain: issued
                .chain
                .iter()
                .filter(|c| !c.is_self_issued())
                .cloned()
                .collect(),
            key: issued.key.clone(),
        }
    }

    /// Reads a PEM certificate file (leaf first, then any intermediates, as
    /// nginx's `ssl_certificate`) and its key file, encrypted or not.
    pub fn from_files(cert: &Path, key: &Path, passphrase: Option<&Passphrase>) -> Result<Self> {
        let mut certs = Certificate::read_all(cert)?;
        let leaf = certs.remove(0);
        let private = PrivateKey::read(key, passphrase)?;
        if !leaf.matches_key(&private) {
            return Err(Error::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            });
        }
        refuse_ca(&leaf, cert)?;
        Ok(Identity {
            certificate: leaf,
            chain: certs,
            key: private,
        })
    }

    /// Whether the certificate is a self-signed one that says `CA:TRUE`, as
    /// `openssl req -x509` makes by default: curl, Python and Chrome accept
    /// it when told to trust it, Firefox refuses it.
    pub fn is_self_signed_ca(&self) -> bool {
        self.certificate.claims_ca() && self.certificate.is_self_issued()
    }

    /// The leaf certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The intermediates sent after the leaf.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }
}

/// A CA certificate issued by another CA is refused as a server's own:
/// browsers refuse a CA as an end entity (Firefox names it
/// `CA_CERT_USED_AS_END_ENTITY`), and serving a sub-CA hands out what can
/// issue certificates. A self-signed one (`openssl req -x509` writes
/// `CA:TRUE` by default) is let through, since clients that trust it trust
/// it as itself; the binary warns about it ([`Identity::is_self_signed_ca`]).
fn refuse_ca(leaf: &Certificate, path: &Path) -> Result<()> {
    if leaf.claims_ca() && !leaf.is_self_issued() {
        return Err(Error::CaAsLeaf {
            cert: path.to_path_buf(),
            subject: leaf.subject(),
        });
    }
    Ok(())
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificate", &self.certificate)
            .field("chain_len", &self.chain.len())
            .field("key", &self.key)
            .finish()
    }
}
