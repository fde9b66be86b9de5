//! PKCS#12 bundles (`.p12`/`.pfx`): key, certificate and chain in one
//! password-protected file, for browsers, Java, Windows and `curl
//! --cert-type P12`, written from and read into an
//! [`Identity`](crate::Identity). The
//! encryption is always chosen here, never left to the linked OpenSSL's
//! defaults, which differ between 1.1 and 3.x.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::provider::Provider;
use openssl::stack::Stack;

use crate::cert::Certificate;
use crate::error::{Error, OpenSslContext, Origin, Result};
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

/// How to write a PKCS#12 file ([`Identity::to_pkcs12`](crate::Identity::to_pkcs12)).
/// `Pkcs12Params::new()` is modern encryption without a friendly name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs12Params {
    encryption: Pkcs12Encryption,
    friendly_name: Option<String>,
}

impl Pkcs12Params {
    /// Modern encryption, no friendly name.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encryption (`openssl pkcs12 -export -legacy` for
    /// [`Pkcs12Encryption::Legacy`]).
    pub fn encryption(mut self, encryption: Pkcs12Encryption) -> Self {
        self.encryption = encryption;
        self
    }

    /// The name importers show (`-name`).
    pub fn friendly_name(mut self, name: impl Into<String>) -> Self {
        self.friendly_name = Some(name.into());
        self
    }
}

/// The PKCS#12 encoding of a key, its certificate and the certificates above it.
pub(crate) fn encode<'a>(
    certificate: &Certificate,
    key: &PrivateKey,
    issuers: impl Iterator<Item = &'a Certificate>,
    password: &Passphrase,
    params: &Pkcs12Params,
) -> Result<Vec<u8>> {
    let password = utf8_password(password)?;
    let mut builder = Pkcs12::builder();
    if let Some(name) = &params.friendly_name {
        builder.name(name);
    }
    builder
        .pkey(key.as_pkey())
        .cert(certificate.as_x509())
        .key_iter(ITERATIONS)
        .mac_iter(ITERATIONS);
    let mut issuers = issuers.peekable();
    if issuers.peek().is_some() {
        let mut stack = Stack::new().context("start the PKCS#12 chain")?;
        for c in issuers {
            stack
                .push(c.as_x509().clone())
                .context("add to the PKCS#12 chain")?;
        }
        builder.ca(stack);
    }
    match params.encryption {
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

/// The key, its certificate and the other certificates of a PKCS#12 file,
/// those in chain order (the leaf's issuer first).
pub(crate) fn decode(
    der: &[u8],
    password: &Passphrase,
    origin: &Origin,
) -> Result<(Certificate, PrivateKey, Vec<Certificate>)> {
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
    let mut chain: Vec<Certificate> = parsed
        .ca
        .map(|s| s.into_iter().map(Certificate::from_x509).collect())
        .unwrap_or_default();
    let leaf = Certificate::from_x509(cert);
    // Importers and exporters disagree on the order of the extra
    // certificates; put them in chain order, leaf's issuer first, the root last.
    order_from(&leaf, &mut chain);
    Ok((leaf, PrivateKey::from_pkey(pkey), chain))
}

/// Sorts `certs` so each is the issuer of the one before it, starting at
/// `leaf`; certificates that fit nowhere keep their order at the end.
fn order_from(leaf: &Certificate, certs: &mut Vec<Certificate>) {
    let mut ordered = Vec::with_capacity(certs.len());
    let mut current = leaf.as_x509().clone();
    while let Some(i) = certs.iter().position(|c| {
        c.as_x509()
            .subject_name()
            .try_cmp(current.issuer_name())
            .is_ok_and(|o| o.is_eq())
    }) {
        let next = certs.remove(i);
        current = next.as_x509().clone();
        let self_issued = next.is_self_issued();
        ordered.push(next);
        if self_issued {
            break;
        }
    }
    ordered.append(certs);
    *certs = ordered;
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
    use crate::{Ca, CaParams, CertParams, Identity};

    #[test]
    fn both_encryptions_round_trip_and_refuse_a_wrong_password() -> Result<()> {
        let root = Ca::generate(&CaParams::new())?;
        let ca = root.issue_intermediate(&CaParams::new())?;
        let issued = ca.issue(&CertParams::new(["localhost"])?)?;
        let pass = Passphrase::new("p12 password");
        for enc in [Pkcs12Encryption::Modern, Pkcs12Encryption::Legacy] {
            let params = Pkcs12Params::new()
                .encryption(enc)
                .friendly_name("localhost dev");
            let der = issued.to_pkcs12(&pass, &params)?;
            let back = Identity::from_pkcs12(&der, &pass)?;
            assert_eq!(back.certificate(), issued.certificate(), "{enc:?}");
            assert!(back.certificate().matches_key(back.key()), "{enc:?}");
            assert_eq!(back.intermediates(), issued.intermediates(), "{enc:?}");
            assert_eq!(back.root(), issued.root(), "{enc:?}");
            assert_eq!(
                back.certificate().friendly_name().as_deref(),
                Some("localhost dev")
            );
            let wrong = Identity::from_pkcs12(&der, &Passphrase::new("nope nope"));
            assert!(
                matches!(wrong, Err(Error::WrongPassphrase { .. })),
                "{enc:?}: {wrong:?}"
            );
        }
        Ok(())
    }
}
