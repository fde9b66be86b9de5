//! Saying what a file holds (`openssl x509 -text`, `req -text`, `pkey
//! -text`, `pkcs12 -info`) as a structured summary: detected from the
//! content, PEM or DER, with the fields people actually look for, printable
//! for people and serialisable as JSON for scripts.

use std::fmt;
use std::time::SystemTime;

use openssl::hash::MessageDigest;
use serde::Serialize;
use x509_parser::extensions::GeneralName;

use crate::cert::Certificate;
use crate::crl::Crl;
use crate::csr::Csr;
use crate::error::{Error, Origin, Result};
use crate::identity::Identity;
use crate::key::PrivateKey;
use crate::passphrase::Passphrase;
use crate::pem;
use crate::time::format_time;

/// What a file was found to hold.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Inspection {
    /// One certificate or a chain, in file order.
    Certificates {
        /// The certificates.
        certificates: Vec<CertSummary>,
    },
    /// A certificate signing request.
    Csr(CsrSummary),
    /// A private key.
    Key(KeySummary),
    /// A PKCS#12 bundle.
    Pkcs12 {
        /// Whether a password opened it; without one only its kind is known.
        opened: bool,
        /// The friendly name.
        friendly_name: Option<String>,
        /// The key.
        key: Option<KeySummary>,
        /// Certificate first, then the chain.
        certificates: Vec<CertSummary>,
    },
    /// A certificate revocation list.
    Crl(CrlSummary),
}

/// The fields of a certificate people look for.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject, `CN=…, O=…`.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// X.509 version (1 or 3).
    pub version: i32,
    /// subjectAltNames as `DNS:localhost`, `IP:127.0.0.1`.
    pub subject_alt_names: Vec<String>,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// Whole days until notAfter; negative once expired.
    pub days_left: i64,
    /// Key algorithm and size (`ECDSA P-256`, `RSA 2048`).
    pub key: String,
    /// Signature algorithm (`ecdsa-with-SHA256`).
    pub signature_algorithm: String,
    /// SHA-256 fingerprint, colon-separated hex.
    pub sha256_fingerprint: String,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// pathlen, for CAs that set one.
    pub path_len: Option<u32>,
    /// Subject equals issuer.
    pub self_issued: bool,
    /// keyUsage names.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage names.
    pub extended_key_usage: Vec<String>,
    /// Permitted name-constraint subtrees.
    pub name_constraints: Vec<String>,
}

/// The fields of a CSR.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CsrSummary {
    /// Subject.
    pub subject: String,
    /// Requested subjectAltNames.
    pub subject_alt_names: Vec<String>,
    /// Key algorithm and size.
    pub key: String,
    /// Whether its self-signature verifies.
    pub signature_valid: bool,
    /// Requested basicConstraints CA flag.
    pub requests_ca: Option<bool>,
    /// Requested extendedKeyUsage.
    pub extended_key_usage: Vec<String>,
}

/// The fields of a private key (never the key itself).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeySummary {
    /// Algorithm and size, or `unknown (encrypted)`.
    pub algorithm: String,
    /// Whether the file is encrypted.
    pub encrypted: bool,
    /// SHA-256 of the public key (SubjectPublicKeyInfo DER), to match keys and certificates.
    pub public_key_sha256: Option<String>,
}

/// The fields of a CRL.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CrlSummary {
    /// Issuer.
    pub issuer: String,
    /// thisUpdate.
    pub this_update: String,
    /// nextUpdate.
    pub next_update: Option<String>,
    /// Revoked serials.
    pub revoked: Vec<String>,
}

impl Inspection {
    /// The summary as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Inspects a file's content, PEM or DER; a PKCS#12 file is only opened
/// with its password, an encrypted key only described without one.
pub fn inspect(bytes: &[u8], password: Option<&Passphrase>) -> Result<Inspection> {
    inspect_from(bytes, password, &Origin::Memory("the input"))
}

/// Inspects a file, naming it in errors.
pub fn inspect_file(path: &std::path::Path, password: Option<&Passphrase>) -> Result<Inspection> {
    let origin = Origin::file(path);
    inspect_from(&crate::fs::read(path)?, password, &origin).map_err(|e| e.at(&origin))
}

fn inspect_from(
    bytes: &[u8],
    password: Option<&Passphrase>,
    origin: &Origin,
) -> Result<Inspection> {
    if pem::looks_like_pem(bytes) {
        let blocks = pem::blocks(bytes);
        let Some(first) = blocks.first() else {
            return Err(unrecognised(origin, "no complete PEM block was found"));
        };
        return match first.label.as_str() {
            "CERTIFICATE" | "TRUSTED CERTIFICATE" => Ok(Inspection::Certificates {
                certificates: Certificate::chain_from_pem(bytes)?
                    .iter()
                    .map(summarize_cert)
                    .collect(),
            }),
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
                Ok(Inspection::Csr(summarize_csr(&Csr::from_pem(bytes)?)?))
            }
            "PRIVATE KEY"
            | "RSA PRIVATE KEY"
            | "EC PRIVATE KEY"
            | "ENCRYPTED PRIVATE KEY"
            | "EC PARAMETERS" => Ok(Inspection::Key(summarize_key_bytes(
                bytes, password, origin,
            )?)),
            "X509 CRL" => Ok(Inspection::Crl(summarize_crl(&Crl::from_bytes(bytes)?))),
            other => Err(unrecognised(
                origin,
                &format!(
                    "it holds a {}, which pki does not inspect",
                    pem::describe_label(other)
                ),
            )),
        };
    }
    if let Ok(cert) = Certificate::from_der(bytes) {
        return Ok(Inspection::Certificates {
            certificates: vec![summarize_cert(&cert)],
        });
    }
    if let Ok(csr) = Csr::from_der(bytes) {
        return Ok(Inspection::Csr(summarize_csr(&csr)?));
    }
    if openssl::pkcs12::Pkcs12::from_der(bytes).is_ok() {
        return inspect_pkcs12(bytes, password, origin);
    }
    if let Ok(crl) = Crl::from_bytes(bytes) {
        return Ok(Inspection::Crl(summarize_crl(&crl)));
    }
    match summarize_key_bytes(bytes, password, origin) {
        Ok(key) => Ok(Inspection::Key(key)),
        Err(_) => Err(unrecognised(
            origin,
            "it is neither a certificate, CSR, key, PKCS#12 file nor CRL, in PEM or DER",
        )),
    }
}

fn unrecognised(origin: &Origin, reason: &str) -> Error {
    Error::Malformed {
        origin: origin.clone(),
        expected: "certificate, CSR, key, PKCS#12 or CRL",
        reason: reason.to_owned(),
    }
}

fn inspect_pkcs12(
    bytes: &[u8],
    password: Option<&Passphrase>,
    origin: &Origin,
) -> Result<Inspection> {
    let Some(password) = password else {
        return Ok(Inspection::Pkcs12 {
            opened: false,
            friendly_name: None,
            key: None,
            certificates: Vec::new(),
        });
    };
    let identity = Identity::from_pkcs12(bytes, password).map_err(|e| match e {
        Error::WrongPassphrase { .. } => Error::WrongPassphrase {
            origin: origin.clone(),
        },
        other => other,
    })?;
    let mut certificates = vec![summarize_cert(identity.certificate())];
    certificates.extend(identity.issuers().map(summarize_cert));
    Ok(Inspection::Pkcs12 {
        opened: true,
        friendly_name: identity.certificate().friendly_name(),
        key: Some(summarize_key(identity.key(), false)),
        certificates,
    })
}

/// Summarises a certificate.
pub fn summarize_cert(cert: &Certificate) -> CertSummary {
    let x509 = cert.as_x509();
    let now = SystemTime::now();
    let not_after = cert.not_after();
    let days_left = match not_after.duration_since(now) {
        Ok(d) => (d.as_secs() / 86_400) as i64,
        // Rounded down, like the positive side: a day and a bit ago is -2.
        Err(e) => -(e.duration().as_secs().div_ceil(86_400) as i64),
    };
    let fingerprint = x509
        .digest(MessageDigest::sha256())
        .map(|d| hex_colons(&d))
        .unwrap_or_default();
    let parsed = cert.parsed(|c| {
        let key_usage = c
            .key_usage()
            .ok()
            .flatten()
            .map(|ku| {
                let v = ku.value;
                [
                    (v.digital_signature(), "digitalSignature"),
                    (v.non_repudiation(), "nonRepudiation"),
                    (v.key_encipherment(), "keyEncipherment"),
                    (v.data_encipherment(), "dataEncipherment"),
                    (v.key_agreement(), "keyAgreement"),
                    (v.key_cert_sign(), "keyCertSign"),
                    (v.crl_sign(), "cRLSign"),
                    (v.encipher_only(), "encipherOnly"),
                    (v.decipher_only(), "decipherOnly"),
                ]
                .iter()
                .filter(|(set, _)| *set)
                .map(|(_, n)| (*n).to_owned())
                .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let eku = c
            .extended_key_usage()
            .ok()
            .flatten()
            .map(|e| crate::csr::eku_names(e.value))
            .unwrap_or_default();
        let bc = c
            .basic_constraints()
            .ok()
            .flatten()
            .map(|b| b.value.clone());
        let constraints = c
            .name_constraints()
            .ok()
            .flatten()
            .map(|nc| {
                nc.value
                    .permitted_subtrees
                    .iter()
                    .flatten()
                    .map(|t| general_name(&t.base))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let sans = c
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|s| {
                s.value
                    .general_names
                    .iter()
                    .map(general_name)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        (key_usage, eku, bc, constraints, sans)
    });
    let (key_usage, extended_key_usage, bc, name_constraints, subject_alt_names) =
        parsed.unwrap_or_default();
    CertSummary {
        subject: cert.subject(),
        issuer: cert.issuer(),
        serial: cert.serial_hex(),
        version: x509.version() + 1,
        subject_alt_names,
        not_before: format_time(cert.not_before()),
        not_after: format_time(not_after),
        days_left,
        key: cert.key_algorithm().to_string(),
        signature_algorithm: x509.signature_algorithm().object().to_string(),
        sha256_fingerprint: fingerprint,
        is_ca: bc.as_ref().is_some_and(|b| b.ca),
        path_len: bc.and_then(|b| b.path_len_constraint),
        self_issued: cert.is_self_issued(),
        key_usage,
        extended_key_usage,
        name_constraints,
    }
}

fn general_name(gn: &GeneralName<'_>) -> String {
    match gn {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 | 16 => crate::cert::ip_from_bytes(bytes)
                .map(|ip| format!("IP:{ip}"))
                .unwrap_or_default(),
            8 | 32 => {
                let half = bytes.len() / 2;
                let ip = crate::cert::ip_from_bytes(&bytes[..half]);
                let prefix: u32 = bytes[half..].iter().map(|b| b.count_ones()).sum();
                ip.map(|ip| format!("IP:{ip}/{prefix}")).unwrap_or_default()
            }
            _ => "IP:<malformed>".to_owned(),
        },
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        other => format!("{other:?}"),
    }
}

fn summarize_csr(csr: &Csr) -> Result<CsrSummary> {
    let requested = csr.requested_extensions()?;
    let key = csr
        .as_x509_req()
        .public_key()
        .map(|pk| {
            crate::key::algorithm_of(pk.id(), pk.bits(), || {
                pk.ec_key().ok().and_then(|k| k.group().curve_name())
            })
            .to_string()
        })
        .unwrap_or_else(|_| "unreadable".to_owned());
    Ok(CsrSummary {
        subject: csr.subject(),
        subject_alt_names: requested
            .subject_alt_names
            .iter()
            .map(|n| format!("{}:{n}", n.kind()))
            .collect(),
        key,
        signature_valid: csr.verify_signature().is_ok(),
        requests_ca: requested.ca,
        extended_key_usage: requested.extended_key_usage,
    })
}

fn summarize_key_bytes(
    bytes: &[u8],
    password: Option<&Passphrase>,
    origin: &Origin,
) -> Result<KeySummary> {
    let read = match password {
        Some(p) => PrivateKey::from_pem_passphrase(bytes, p)
            .or_else(|_| PrivateKey::from_der(bytes, Some(p))),
        None if pem::looks_like_pem(bytes) => PrivateKey::from_pem(bytes),
        None => PrivateKey::from_der(bytes, None),
    };
    let encrypted = String::from_utf8_lossy(bytes).contains("ENCRYPTED");
    match read {
        Ok(key) => Ok(summarize_key(&key, encrypted)),
        Err(Error::PassphraseRequired { .. }) => Ok(KeySummary {
            algorithm: "unknown (encrypted; give the pass phrase to see more)".to_owned(),
            encrypted: true,
            public_key_sha256: None,
        }),
        Err(Error::WrongPassphrase { .. }) => Err(Error::WrongPassphrase {
            origin: origin.clone(),
        }),
        Err(e) => Err(e),
    }
}

fn summarize_key(key: &PrivateKey, encrypted: bool) -> KeySummary {
    let spki = key.as_pkey().public_key_to_der().ok();
    KeySummary {
        algorithm: key.algorithm().to_string(),
        encrypted,
        public_key_sha256: spki
            .and_then(|der| openssl::hash::hash(MessageDigest::sha256(), &der).ok())
            .map(|d| hex_colons(&d)),
    }
}

fn summarize_crl(crl: &Crl) -> CrlSummary {
    CrlSummary {
        issuer: crate::cert::one_line(crl.as_x509_crl().issuer_name()),
        this_update: format_time(crl.this_update()),
        next_update: crl.next_update().map(format_time),
        revoked: crl.revoked_serials(),
    }
}

fn hex_colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inspection::Certificates { certificates } => {
                for (i, c) in certificates.iter().enumerate() {
                    if certificates.len() > 1 {
                        writeln!(f, "Certificate {} of {}:", i + 1, certificates.len())?;
                    }
                    write_cert(f, c)?;
                }
                Ok(())
            }
            Inspection::Csr(c) => {
                writeln!(f, "Certificate signing request")?;
                line(f, "subject", &c.subject)?;
                line(f, "names", &list_or_none(&c.subject_alt_names))?;
                line(f, "key", &c.key)?;
                line(
                    f,
                    "signature",
                    if c.signature_valid {
                        "valid"
                    } else {
                        "INVALID"
                    },
                )?;
                if let Some(ca) = c.requests_ca {
                    line(f, "asks for CA", if ca { "yes" } else { "no" })?;
                }
                if !c.extended_key_usage.is_empty() {
                    line(f, "ext. key usage", &c.extended_key_usage.join(", "))?;
                }
                Ok(())
            }
            Inspection::Key(k) => write_key(f, k),
            Inspection::Pkcs12 {
                opened,
                friendly_name,
                key,
                certificates,
            } => {
                writeln!(f, "PKCS#12 bundle")?;
                if !opened {
                    return writeln!(
                        f,
                        "  (password protected; give the password to see its contents)"
                    );
                }
                if let Some(name) = friendly_name {
                    line(f, "friendly name", name)?;
                }
                if let Some(k) = key {
                    write_key(f, k)?;
                }
                for c in certificates {
                    write_cert(f, c)?;
                }
                Ok(())
            }
            Inspection::Crl(c) => {
                writeln!(f, "Certificate revocation list")?;
                line(f, "issuer", &c.issuer)?;
                line(f, "this update", &c.this_update)?;
                line(
                    f,
                    "next update",
                    c.next_update.as_deref().unwrap_or("(none)"),
                )?;
                line(f, "revoked", &list_or_none(&c.revoked))
            }
        }
    }
}

fn write_cert(f: &mut fmt::Formatter<'_>, c: &CertSummary) -> fmt::Result {
    line(f, "subject", &c.subject)?;
    line(f, "issuer", &c.issuer)?;
    line(f, "names", &list_or_none(&c.subject_alt_names))?;
    let left = if c.days_left < 0 {
        "EXPIRED".to_owned()
    } else {
        format!("{} days left", c.days_left)
    };
    line(
        f,
        "valid",
        &format!("{} to {} ({left})", c.not_before, c.not_after),
    )?;
    line(f, "serial", &c.serial)?;
    line(f, "version", &c.version.to_string())?;
    line(f, "key", &c.key)?;
    line(f, "signature", &c.signature_algorithm)?;
    let ca = match (c.is_ca, c.path_len) {
        (true, Some(n)) => format!("yes (pathlen {n})"),
        (true, None) => "yes".to_owned(),
        (false, _) => "no".to_owned(),
    };
    line(f, "CA", &ca)?;
    line(f, "key usage", &list_or_none(&c.key_usage))?;
    line(f, "ext. key usage", &list_or_none(&c.extended_key_usage))?;
    if !c.name_constraints.is_empty() {
        line(f, "permitted names", &c.name_constraints.join(", "))?;
    }
    line(f, "SHA-256", &c.sha256_fingerprint)
}

fn write_key(f: &mut fmt::Formatter<'_>, k: &KeySummary) -> fmt::Result {
    writeln!(f, "Private key")?;
    line(f, "algorithm", &k.algorithm)?;
    line(f, "encrypted", if k.encrypted { "yes" } else { "no" })?;
    if let Some(h) = &k.public_key_sha256 {
        line(f, "public key SHA-256", h)?;
    }
    Ok(())
}

fn line(f: &mut fmt::Formatter<'_>, label: &str, value: &str) -> fmt::Result {
    writeln!(f, "  {label:<15} {value}")
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ca, CaParams, CertParams, NameConstraint};

    #[test]
    fn certificates_chains_and_keys_are_recognised() -> Result<()> {
        let ca = Ca::generate(&CaParams::new().permit(NameConstraint::parse("127.0.0.0/8")?))?;
        let issued = ca.issue(&CertParams::new(["127.0.0.1"])?)?;
        let mut full_chain = issued.chain_pem()?;
        full_chain.extend(ca.certificate().to_pem()?);
        let Inspection::Certificates { certificates } = inspect(&full_chain, None)? else {
            panic!("not seen as certificates");
        };
        assert_eq!(certificates.len(), 2);
        assert_eq!(certificates[0].subject_alt_names, ["IP:127.0.0.1"]);
        assert_eq!(certificates[0].extended_key_usage, ["serverAuth"]);
        assert!(certificates[0].days_left >= 824);
        assert!(certificates[1].is_ca);
        assert_eq!(certificates[1].name_constraints, ["IP:127.0.0.0/8"]);
        assert_eq!(certificates[0].sha256_fingerprint.len(), 32 * 3 - 1);

        let der = inspect(&issued.certificate().to_der()?, None)?;
        assert!(der.to_json().contains("\"kind\": \"certificates\""));

        let pass = Passphrase::new("secret phrase");
        let encrypted = issued.key().to_pem_encrypted(&pass)?;
        let Inspection::Key(k) = inspect(&encrypted, None)? else {
            panic!("not a key")
        };
        assert!(k.encrypted && k.public_key_sha256.is_none());
        let Inspection::Key(k) = inspect(&encrypted, Some(&pass))? else {
            panic!("not a key")
        };
        assert_eq!(k.algorithm, "ECDSA P-256");
        let shown = inspect(&encrypted, Some(&pass))?.to_string()
            + &inspect(&encrypted, Some(&pass))?.to_json();
        assert!(!shown.contains("secret phrase"));
        Ok(())
    }
}
