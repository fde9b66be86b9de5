//! An identity: a certificate, its private key, and the intermediates
//! between it and the root. It is what a server serves and what a client
//! presents, so `Ca::issue`, `self_signed`, `TestCa` and PKCS#12 files all
//! give this one type, and "chain" means one thing everywhere: the
//! intermediates, never the root. The root is kept beside them
//! ([`Identity::root`]) because clients need it to trust the identity, while
//! a server that sends it only wastes bytes (RFC 8446 §4.4.2 lets it be left
//! out, and nginx's `ssl_certificate` advice is the same).

use std::fmt;
use std::path::Path;

use openssl::ssl::SslContextBuilder;

use crate::cert::Certificate;
use crate::error::{Error, OpenSslContext, Origin, Result};
use crate::fs::{self, Overwrite, Secrecy};
use crate::key::PrivateKey;
use crate::passphrase::Passphrase;
use crate::pkcs12::{self, Pkcs12Params};

/// A certificate with its private key and intermediates, checked to belong
/// together.
///
/// ```
/// use openssl::ssl::{SslAcceptor, SslMethod};
/// use pki::{Ca, CaParams, CertParams};
///
/// let root = Ca::generate(&CaParams::new())?;
/// let intermediate = root.issue_intermediate(&CaParams::new())?;
/// let server = intermediate.issue(&CertParams::new(["localhost"])?)?;
/// assert_eq!(server.intermediates().len(), 1);
/// assert_eq!(server.root(), Some(root.certificate()));
///
/// // The leaf, the intermediate and the key, as a server must send them.
/// let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
/// server.configure(&mut acceptor)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Identity {
    certificate: Certificate,
    intermediates: Vec<Certificate>,
    key: PrivateKey,
    root: Option<Certificate>,
}

impl Identity {
    /// A certificate and its key, without intermediates; refused with
    /// [`Error::KeyMismatch`] when the key is not the certificate's.
    pub fn new(certificate: Certificate, key: PrivateKey) -> Result<Self> {
        Self::checked(
            certificate,
            key,
            &Origin::Memory("the certificate"),
            &Origin::Memory("the key"),
        )
    }

    /// The same identity with these intermediates, leaf's issuer first.
    pub fn with_intermediates(mut self, intermediates: Vec<Certificate>) -> Self {
        self.intermediates = intermediates;
        self
    }

    /// The same identity with the root its chain leads to.
    pub fn with_root(mut self, root: Certificate) -> Self {
        self.root = Some(root);
        self
    }

    /// Built by this crate from a key it just generated for the certificate.
    pub(crate) fn issued(
        certificate: Certificate,
        key: PrivateKey,
        issuers: &[Certificate],
    ) -> Self {
        let (intermediates, root) = split_root(issuers.to_vec());
        Identity {
            certificate,
            intermediates,
            key,
            root,
        }
    }

    /// Reads a PEM (or DER) certificate file, leaf first and then its
    /// intermediates as nginx's `ssl_certificate` and certbot's
    /// `fullchain.pem` hold them, and a key file, encrypted or not. A root
    /// at the end of the file is kept as [`Identity::root`], not sent.
    pub fn read(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        passphrase: Option<&Passphrase>,
    ) -> Result<Self> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let cert_origin = Origin::file(cert);
        let (leaf, above) = leaf_first(Certificate::read_all(cert)?, &cert_origin)?;
        let private = PrivateKey::read(key, passphrase)?;
        Self::from_certs(leaf, above, private, &cert_origin, &Origin::file(key))
    }

    /// As [`Identity::read`], from PEM text: the certificates, then the key
    /// (which may be in the same text, as in a `curl -E` bundle).
    pub fn from_pem(certs: &[u8], key: &[u8], passphrase: Option<&Passphrase>) -> Result<Self> {
        let cert_origin = Origin::Memory("the certificate chain");
        let (leaf, above) = leaf_first(Certificate::chain_from_pem(certs)?, &cert_origin)?;
        let private = match passphrase {
            Some(p) => PrivateKey::from_pem_passphrase(key, p)?,
            None => PrivateKey::from_pem(key)?,
        };
        Self::from_certs(
            leaf,
            above,
            private,
            &cert_origin,
            &Origin::Memory("the key"),
        )
    }

    /// Reads a PKCS#12 file; replaces `openssl pkcs12 -in f.p12 -nodes`. A
    /// wrong password is [`Error::WrongPassphrase`] naming the file. The
    /// friendly name, if any, is [`Certificate::friendly_name`].
    pub fn read_pkcs12(path: impl AsRef<Path>, password: &Passphrase) -> Result<Self> {
        let path = path.as_ref();
        let (leaf, key, others) = pkcs12::decode(&fs::read(path)?, password, &Origin::file(path))?;
        let origin = Origin::file(path);
        Self::from_certs(leaf, others, key, &origin, &origin)
    }

    /// As [`Identity::read_pkcs12`], from the file's bytes.
    pub fn from_pkcs12(der: &[u8], password: &Passphrase) -> Result<Self> {
        let origin = Origin::Memory("the PKCS#12 data");
        let (leaf, key, others) = pkcs12::decode(der, password, &origin)?;
        Self::from_certs(leaf, others, key, &origin, &origin)
    }

    /// A leaf and the certificates above it, in chain order (a root at
    /// the end), with its key.
    fn from_certs(
        leaf: Certificate,
        above: Vec<Certificate>,
        key: PrivateKey,
        cert_origin: &Origin,
        key_origin: &Origin,
    ) -> Result<Self> {
        let identity = Self::checked(leaf, key, cert_origin, key_origin)?;
        let (intermediates, root) = split_root(above);
        Ok(Identity {
            intermediates,
            root,
            ..identity
        })
    }

    fn checked(
        certificate: Certificate,
        key: PrivateKey,
        cert_origin: &Origin,
        key_origin: &Origin,
    ) -> Result<Self> {
        if !certificate.matches_key(&key) {
            return Err(Error::KeyMismatch {
                cert: cert_origin.clone(),
                key: key_origin.clone(),
            });
        }
        Ok(Identity {
            certificate,
            intermediates: Vec::new(),
            key,
            root: None,
        })
    }

    /// The leaf certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The private key of the leaf.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The CAs between the leaf and the root, the leaf's issuer first:
    /// what a server sends after its certificate. Empty for a certificate
    /// a root issued directly.
    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    /// The root the chain leads to, when known: what clients must trust.
    /// `None` for a self-signed certificate (trust the certificate itself)
    /// and for files that did not include it.
    pub fn root(&self) -> Option<&Certificate> {
        self.root.as_ref()
    }

    /// Installs the certificate, the intermediates and the key into an
    /// OpenSSL context (an `SslAcceptorBuilder` or `SslConnectorBuilder`
    /// through `DerefMut`); replaces `SSL_CTX_use_certificate_chain_file`
    /// plus `SSL_CTX_use_PrivateKey_file`. Without the intermediates,
    /// clients that trust only the root fail with "unable to get local
    /// issuer certificate".
    pub fn configure(&self, builder: &mut SslContextBuilder) -> Result<()> {
        builder
            .set_certificate(self.certificate.as_x509())
            .context("set the certificate")?;
        for cert in &self.intermediates {
            builder
                .add_extra_chain_cert(cert.as_x509().clone())
                .context("add an intermediate")?;
        }
        builder
            .set_private_key(self.key.as_pkey())
            .context("set the private key")?;
        builder
            .check_private_key()
            .context("check the private key against the certificate")
    }

    /// The leaf and its intermediates, PEM: what a server sends (nginx's
    /// `ssl_certificate`, certbot's `fullchain.pem`).
    pub fn chain_pem(&self) -> Result<Vec<u8>> {
        let mut out = self.certificate.to_pem()?;
        for cert in &self.intermediates {
            out.extend(cert.to_pem()?);
        }
        Ok(out)
    }

    /// [`Identity::chain_pem`] followed by the key, as `curl -E client.pem`
    /// and the seed articles' `cat client.crt client.key` take it.
    pub fn bundle_pem(&self) -> Result<Vec<u8>> {
        let mut out = self.chain_pem()?;
        out.extend(self.key.to_pem()?);
        Ok(out)
    }

    /// Writes [`Identity::chain_pem`] (mode 0644) and the key (mode 0600,
    /// encrypted when a pass phrase is given), each atomically. With
    /// [`Overwrite::Refuse`], an existing file at either path stops the
    /// write before anything is written, and a key written for a
    /// certificate that then could not be is removed again.
    pub fn write_pem(
        &self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        passphrase: Option<&Passphrase>,
        overwrite: Overwrite,
    ) -> Result<()> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        if cert == key {
            return Err(Error::SamePath {
                path: cert.to_path_buf(),
            });
        }
        let chain = self.chain_pem()?;
        let taken = [cert, key].into_iter().find(|p| p.exists());
        if let (Overwrite::Refuse, Some(path)) = (overwrite, taken) {
            return Err(Error::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        // The key first: a crash in between leaves a key without its
        // certificate, never a certificate without its key.
        self.key.write_pem(key, passphrase, overwrite)?;
        let written = fs::write_atomic(cert, &chain, Secrecy::Public, overwrite);
        if written.is_err() && overwrite == Overwrite::Refuse {
            let _ = fs::remove(key);
        }
        written
    }

    /// Writes [`Identity::bundle_pem`] with mode 0600 (it holds the key).
    pub fn write_bundle_pem(&self, path: impl AsRef<Path>, overwrite: Overwrite) -> Result<()> {
        fs::write_atomic(path, &self.bundle_pem()?, Secrecy::Private, overwrite)
    }

    /// Encodes the identity as PKCS#12, with the root when known (browsers
    /// and Java import it with the key); replaces `openssl pkcs12 -export
    /// -inkey k.pem -in c.pem -certfile chain.pem -name NAME -passout …`.
    pub fn to_pkcs12(&self, password: &Passphrase, params: &Pkcs12Params) -> Result<Vec<u8>> {
        pkcs12::encode(
            &self.certificate,
            &self.key,
            self.issuers(),
            password,
            params,
        )
    }

    /// Writes [`Identity::to_pkcs12`] with mode 0600 (it holds the key).
    pub fn write_pkcs12(
        &self,
        path: impl AsRef<Path>,
        password: &Passphrase,
        params: &Pkcs12Params,
        overwrite: Overwrite,
    ) -> Result<()> {
        let der = self.to_pkcs12(password, params)?;
        fs::write_atomic(path, &der, Secrecy::Private, overwrite)
    }

    /// The intermediates, then the root if known: every certificate above
    /// the leaf.
    pub fn issuers(&self) -> impl Iterator<Item = &Certificate> {
        self.intermediates.iter().chain(self.root.as_ref())
    }
}

/// The first certificate of a file and the rest.
fn leaf_first(
    mut certs: Vec<Certificate>,
    origin: &Origin,
) -> Result<(Certificate, Vec<Certificate>)> {
    if certs.is_empty() {
        return Err(Error::Malformed {
            origin: origin.clone(),
            expected: "certificate",
            reason: "it holds no certificate".to_owned(),
        });
    }
    let leaf = certs.remove(0);
    Ok((leaf, certs))
}

/// A trailing self-issued certificate is the root; the others are the
/// intermediates, in the order given.
fn split_root(mut certs: Vec<Certificate>) -> (Vec<Certificate>, Option<Certificate>) {
    let root = match certs.last() {
        Some(last) if last.is_self_issued() => certs.pop(),
        _ => None,
    };
    (certs, root)
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificate", &self.certificate)
            .field("intermediates", &self.intermediates.len())
            .field("key", &self.key)
            .field("root", &self.root.as_ref().map(Certificate::subject))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ca, CaParams, CertParams, self_signed};

    #[test]
    fn chain_means_intermediates_and_the_root_stays_apart() -> Result<()> {
        let root = Ca::generate(&CaParams::new())?;
        let direct = root.issue(&CertParams::new(["localhost"])?)?;
        assert!(direct.intermediates().is_empty());
        assert_eq!(direct.root(), Some(root.certificate()));

        let intermediate = root.issue_intermediate(&CaParams::new())?;
        let chained = intermediate.issue(&CertParams::new(["localhost"])?)?;
        assert_eq!(
            chained.intermediates(),
            [intermediate.certificate().clone()]
        );
        assert_eq!(chained.root(), Some(root.certificate()));
        assert_eq!(chained.issuers().count(), 2);

        let own = self_signed(&CertParams::new(["localhost"])?)?;
        assert!(own.intermediates().is_empty() && own.root().is_none());
        Ok(())
    }

    #[test]
    fn pem_round_trip_keeps_the_root_out_of_the_chain() -> Result<()> {
        let root = Ca::generate(&CaParams::new())?;
        let intermediate = root.issue_intermediate(&CaParams::new())?;
        let issued = intermediate.issue(&CertParams::new(["localhost"])?)?;
        // A file with the root at the end, as some people concatenate them.
        let mut certs = issued.chain_pem()?;
        certs.extend(root.certificate().to_pem()?);
        let back = Identity::from_pem(&certs, &issued.key().to_pem()?, None)?;
        assert_eq!(back.certificate(), issued.certificate());
        assert_eq!(back.intermediates(), issued.intermediates());
        assert_eq!(back.root(), issued.root());

        let dir = crate::fs::test_dir()?;
        let same = dir.path().join("both.pem");
        let err = issued
            .write_pem(&same, &same, None, Overwrite::Replace)
            .unwrap_err();
        assert!(matches!(err, Error::SamePath { .. }), "{err:?}");
        assert!(!same.exists(), "nothing is written");

        let other = root.issue(&CertParams::new(["localhost"])?)?;
        let err = Identity::from_pem(&certs, &other.key().to_pem()?, None).unwrap_err();
        assert!(
            matches!(err, Error::KeyMismatch { .. }),
            "a key of another certificate: {err:?}"
        );
        Ok(())
    }
}
