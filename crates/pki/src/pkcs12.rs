//! PKCS#12 bundles (`.p12`/`.pfx`): key, certificate and chain in one
//! password-protected file, for browsers, Java, Windows and `curl
//! --cert-type P12`. The encryption is always chosen here, never left to the
//! linked OpenSSL's defaults, which differ between 1.1 and 3.x.

use std::fmt;
use std::path::Path;

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::provider::Provider;
use openssl::stack::Stack;

use crate::cert::Certificate;
use crate::error::{Error, OpenSslContext, Origin, Result};
use crate::fs::{self, Overwrite, Secrecy};
use crate::key::PrivateKey;
use crate::passphrase::Passphrase;

/// PBKDF2 and MAC iterations: OpenSSL 3's own default for `pkcs12 -export`.
const ITERATIONS: u32 = 2048;

/// OpenSSL's library code for PKCS#12 and its "mac verify failure" reason.
const ERR_LIB_PKCS12: i32 = 35;
const PKCS12_R_MAC_VERIFY_FAILURE: i32 = 113;

/// How a PKCS#12 file is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pkcs12Encryption {
    /// AES-256-CBC with PBKDF2 for key and certificates, SHA-256 MAC: what
    /// OpenSSL 3 writes by default, and what current browsers, Java 11.0.12+,
    /// macOS 14+ and Windows 10 1709+ read.
    #[default]
    Modern,
    /// 3DES for the key, RC2-40 for the certificates, SHA-1 MAC: for older
    /// macOS keychains, Windows Server 2016 and older Java importers.
    Legacy,
}

/// The pieces of a PKCS#12 file.
pub struct Pkcs12Bundle {
    /// The private key.
    pub key: PrivateKey,
    /// The certificate of the key.
    pub certificate: Certificate,
    /// Further certificates (intermediates, root).
    pub chain: Vec<Certificate>,
    /// The friendly name shown by importers.
    pub friendly_name: Option<String>,
}

impl fmt::Debug for Pkcs12Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs12Bundle")
            .field("certificate", &self.certificate)
            .field("chain_len", &self.chain.len())
            .field("friendly_name", &self.friendly_name)
            .finish_non_exhaustive()
    }
}

impl Pkcs12Bundle {
    /// Encodes the bundle; replaces `openssl pkcs12 -export -inkey k.pem -in
    /// c.pem -certfile chain.pem -name NAME -passout …` (with `-legacy` for
    /// [`Pkcs12Encryption::Legacy`]).
    pub fn to_der(&self, password: &Passphrase, encryption: Pkcs12Encryption) -> Result<Vec<u8>> {
        let password = utf8_password(password)?;
        let mut builder = Pkcs12::builder();
        if let Some(name) = &self.friendly_name {
            builder.name(name);
        }
        builder
            .pkey(self.key.as_pkey())
            .cert(self.certificate.as_x509())
            .key_iter(ITERATIONS)
            .mac_iter(ITERATIONS);
        if !self.chain.is_empty() {
            let mut stack = Stack::new().context("start the PKCS#12 chain")?;
            for c in &self.chain {
                stack
                    .push(c.as_x509().clone())
                    .context("add to the PKCS#12 chain")?;
            }
            builder.ca(stack);
        }
        match encryption {
            Pkcs12Encryption::Modern => {
                builder
                    .key_algorithm(Nid::AES_256_CBC)
                    .cert_algorithm(Nid::AES_256_CBC)
                    .mac_md(MessageDigest::sha256());
            }
            Pkcs12Encryption::Legacy => {
                // RC2 lives in OpenSSL 3's legacy provider; keep the default
                // provider too, or nothing else would work afterwards.
                load_legacy_provider()?;
                builder
                    .key_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
                    .cert_algorithm(Nid::PBE_WITHSHA1AND40BITRC2_CBC)
                    .mac_md(MessageDigest::sha1());
            }
        }
        let p12 = builder.build2(password).context("build the PKCS#12 file")?;
        p12.to_der().context("encode the PKCS#12 file")
    }

    /// Writes the bundle with mode 0600 (it holds the key), refusing to overwrite.
    pub fn write(
        &self,
        path: impl AsRef<Path>,
        password: &Passphrase,
        encryption: Pkcs12Encryption,
    ) -> Result<()> {
        let path = path.as_ref();
        let der = self.to_der(password, encryption)?;
        fs::write_atomic(path, &der, Secrecy::Private, Overwrite::Refuse)
    }

    /// Reads a PKCS#12 file; replaces `openssl pkcs12 -in f.p12 -nodes`. A
    /// wrong password is [`Error::WrongPassphrase`].
    pub fn from_der(der: &[u8], password: &Passphrase) -> Result<Self> {
        parse(der, password, &Origin::Memory("the PKCS#12 data"))
    }

    /// Reads a PKCS#12 file from disk, naming it in errors.
    pub fn read(path: impl AsRef<Path>, password: &Passphrase) -> Result<Self> {
        let path = path.as_ref();
        parse(&fs::read(path)?, password, &Origin::file(path))
    }
}

fn parse(der: &[u8], password: &Passphrase, origin: &Origin) -> Result<Pkcs12Bundle> {
    let malformed = |reason: String| Error::Malformed {
        origin: origin.clone(),
        expected: "PKCS#12 file",
        reason,
    };
    let p12 = Pkcs12::from_der(der).map_err(|e| malformed(crate::error::openssl_reason(&e)))?;
    // Reading legacy files needs RC2 as well; modern ones read without it.
    let _ = load_legacy_provider();
    let parsed = p12.parse2(utf8_password(password)?).map_err(|e| {
        let wrong = e.errors().iter().any(|err| {
            err.library_code() == ERR_LIB_PKCS12 && err.reason_code() == PKCS12_R_MAC_VERIFY_FAILURE
        });
        if wrong {
            Error::WrongPassphrase {
                origin: origin.clone(),
            }
        } else {
            malformed(crate::error::openssl_reason(&e))
        }
    })?;
    let (Some(pkey), Some(cert)) = (parsed.pkey, parsed.cert) else {
        return Err(malformed(
            "it holds no private key with its certificate".to_owned(),
        ));
    };
    let chain = parsed
        .ca
        .map(|s| s.into_iter().map(Certificate::from_x509).collect())
        .unwrap_or_default();
    let friendly_name = cert
        .alias()
        .map(|a| String::from_utf8_lossy(a).into_owned());
    Ok(Pkcs12Bundle {
        key: PrivateKey::from_pkey(pkey),
        certificate: Certificate::from_x509(cert),
        chain,
        friendly_name,
    })
}

fn utf8_password(password: &Passphrase) -> Result<&str> {
    std::str::from_utf8(password.as_bytes()).map_err(|_| Error::InvalidPassword {
        reason: "PKCS#12 passwords must be UTF-8 text",
    })
}

/// Loads OpenSSL 3's legacy provider (RC2, 3DES PBE) once, alongside the
/// default provider, for the rest of the process.
fn load_legacy_provider() -> Result<()> {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let loaded = *LOADED.get_or_init(|| {
        let providers = Provider::try_load(None, "default", true)
            .and_then(|d| Provider::try_load(None, "legacy", true).map(|l| (d, l)));
        match providers {
            Ok(handles) => {
                // Unloading would break every later legacy read or write.
                std::mem::forget(handles);
                true
            }
            Err(_) => false,
        }
    });
    if !loaded {
        return Err(Error::Unsupported {
            what: "legacy PKCS#12 encryption (OpenSSL's legacy provider is not installed)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ca, CaParams, CertParams};

    fn bundle() -> Result<Pkcs12Bundle> {
        let root = Ca::generate(&CaParams::new())?;
        let ca = root.issue_intermediate(&CaParams::new())?;
        let issued = ca.issue(&CertParams::new(["localhost"])?)?;
        Ok(Pkcs12Bundle {
            key: issued.key,
            certificate: issued.certificate,
            chain: issued.chain,
            friendly_name: Some("localhost dev".to_owned()),
        })
    }

    #[test]
    fn both_encryptions_round_trip_and_refuse_a_wrong_password() -> Result<()> {
        let b = bundle()?;
        let pass = Passphrase::new("p12 password");
        for enc in [Pkcs12Encryption::Modern, Pkcs12Encryption::Legacy] {
            let der = b.to_der(&pass, enc)?;
            let back = Pkcs12Bundle::from_der(&der, &pass)?;
            assert_eq!(back.certificate, b.certificate, "{enc:?}");
            assert!(back.certificate.matches_key(&back.key), "{enc:?}");
            assert_eq!(back.chain.len(), 2, "{enc:?}");
            assert_eq!(back.friendly_name.as_deref(), Some("localhost dev"));
            let wrong = Pkcs12Bundle::from_der(&der, &Passphrase::new("nope nope"));
            assert!(
                matches!(wrong, Err(Error::WrongPassphrase { .. })),
                "{enc:?}: {wrong:?}"
            );
        }
        Ok(())
    }
}
