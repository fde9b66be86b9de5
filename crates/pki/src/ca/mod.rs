//! The local development CA: a root (`openssl req -x509`), an optional
//! intermediate, and issuing leaves (`openssl x509 -req -CA -CAkey`) and
//! signing CSRs under its policy (lifetime never past the issuer, name
//! constraints, keys clients accept). The CA directory on disk, laid out as
//! mkcert lays it out so an existing mkcert CAROOT works as is, is the
//! `dir` submodule's, re-exported here.

use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKeyRef};
use openssl::x509::extension::BasicConstraints;
use x509_parser::extensions::GeneralName;

use crate::cert::{CertParams, Certificate, DEFAULT_LEAF_DAYS, ip_from_bytes};
use crate::csr::Csr;
use crate::error::{Error, OpenSslContext, Origin, Result};
use crate::identity::Identity;
use crate::key::{KeyAlgorithm, KeyType, PrivateKey};
use crate::name::{NameConstraint, SubjectAltName};
use crate::passphrase::Passphrase;
use crate::time::{days_to_duration, default_not_before, format_time};
use crate::x509::{
    IssuerParts, LeafContents, MAX_CN_LEN, add_ca_extensions, add_key_identifiers, check_order,
    der_extension, eku_extension, san_extension, sign_leaf, start_builder, subject_name,
    subject_name_der,
};

mod dir;

pub use crate::x509::SERIAL_BITS;
pub use dir::{
    CA_CERT_FILE, CA_KEY_FILE, CREATION_MARKER, DirState, LoadOrCreate, default_dir, dir_state,
};

/// Default lifetime of a root CA: ten years, as mkcert. Roots are trusted by
/// hand once; replacing them often costs more than it protects.
pub const DEFAULT_ROOT_DAYS: u32 = 3650;
/// Default lifetime of an intermediate CA: five years (never past its root).
pub const DEFAULT_INTERMEDIATE_DAYS: u32 = 1825;

/// What a new CA should say. `CaParams::default()` gives a P-256 root valid
/// for ten years, named after the current user and host.
#[derive(Debug, Clone, PartialEq)]
pub struct CaParams {
    key_type: KeyType,
    owner: String,
    common_name: Option<String>,
    not_before: Option<SystemTime>,
    not_after: Option<SystemTime>,
    name_constraints: Vec<NameConstraint>,
}

impl Default for CaParams {
    fn default() -> Self {
        CaParams {
            key_type: KeyType::default(),
            owner: default_owner(),
            common_name: None,
            not_before: None,
            not_after: None,
            name_constraints: Vec::new(),
        }
    }
}

impl CaParams {
    /// The defaults; same as `CaParams::default()`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the CA key type.
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = key_type;
        self
    }

    /// Sets whose CA this is (default: `user@host`); it goes into the subject.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Sets the CN (default: `pki <owner>`).
    pub fn common_name(mut self, cn: impl Into<String>) -> Self {
        self.common_name = Some(cn.into());
        self
    }

    /// Sets the validity in days from now.
    pub fn valid_for_days(mut self, days: u32) -> Self {
        let start = self.not_before.unwrap_or_else(default_not_before);
        self.not_after = Some(start + days_to_duration(days));
        self
    }

    /// Sets the start of validity.
    pub fn not_before(mut self, time: SystemTime) -> Self {
        self.not_before = Some(time);
        self
    }

    /// Sets the end of validity.
    pub fn not_after(mut self, time: SystemTime) -> Self {
        self.not_after = Some(time);
        self
    }

    /// Limits the CA to names inside `constraint` (critical nameConstraints,
    /// permitted subtrees). Call once per subtree; the CA may then issue for
    /// names inside any of them. Kinds of name no constraint mentions stay free.
    pub fn permit(mut self, constraint: NameConstraint) -> Self {
        self.name_constraints.push(constraint);
        self
    }

    /// The permitted subtrees asked for.
    pub fn name_constraints(&self) -> &[NameConstraint] {
        &self.name_constraints
    }
}

/// `user@host` of the running process, for CA subjects, as mkcert writes it.
pub fn default_owner() -> String {
    let user = whoami::username().unwrap_or_else(|_| "unknown".to_owned());
    let host = whoami::hostname().unwrap_or_else(|_| "unknown".to_owned());
    format!("{user}@{host}")
}

/// A CA that can issue: its certificate, its key, and the certificates
/// above it up to the root (empty for a root).
#[derive(Clone)]
pub struct Ca {
    cert: Certificate,
    key: PrivateKey,
    chain: Vec<Certificate>,
    owner: String,
    /// The permitted subtrees of this CA and each above it, read once (with
    /// x509-parser) on the first issue rather than on every one.
    permitted: std::sync::OnceLock<Vec<Vec<NameConstraint>>>,
    /// What each leaf takes of this CA, read once ([`Ca::issuer_parts`]).
    issuer: std::sync::OnceLock<IssuerParts>,
}

impl Ca {
    /// Generates a self-signed root in memory; replaces `openssl req -x509
    /// -new -key ca.key -days 3650 -addext basicConstraints=critical,CA:TRUE …`.
    pub fn generate(params: &CaParams) -> Result<Self> {
        let key = PrivateKey::generate(params.key_type)?;
        let cn = params
            .common_name
            .clone()
            .unwrap_or_else(|| format!("pki {}", params.owner));
        let subject = subject_name(Some(&cn), Some("pki development CA"), Some(&params.owner))?;
        let not_before = params.not_before.unwrap_or_else(default_not_before);
        let not_after = params
            .not_after
            .unwrap_or(not_before + days_to_duration(DEFAULT_ROOT_DAYS));
        check_order(not_before, not_after)?;
        let mut builder = start_builder(&subject, &subject, key.as_pkey(), not_before, not_after)?;
        add_ca_extensions(&mut builder, None, None, &params.name_constraints)?;
        builder
            .sign(key.as_pkey(), key.signing_digest())
            .context("sign the CA certificate")?;
        Ok(Ca {
            cert: Certificate::from_x509(builder.build()),
            key,
            chain: Vec::new(),
            owner: params.owner.clone(),
            permitted: std::sync::OnceLock::new(),
            issuer: std::sync::OnceLock::new(),
        })
    }

    /// Issues an intermediate CA under this one (pathlen 0, so it issues
    /// leaves only); its chain carries this CA and the ones above.
    pub fn issue_intermediate(&self, params: &CaParams) -> Result<Ca> {
        let path_len = self.cert.parsed(|c| {
            c.basic_constraints()
                .ok()
                .flatten()
                .and_then(|bc| bc.value.path_len_constraint)
        });
        if path_len.flatten() == Some(0) {
            return Err(Error::PathLenZero {
                subject: self.cert.subject(),
            });
        }
        let key = PrivateKey::generate(params.key_type)?;
        let cn = params
            .common_name
            .clone()
            .unwrap_or_else(|| format!("pki intermediate {}", params.owner));
        let subject = subject_name(Some(&cn), Some("pki development CA"), Some(&params.owner))?;
        let (not_before, not_after) = self.validity(
            params.not_before,
            params.not_after,
            DEFAULT_INTERMEDIATE_DAYS,
        )?;
        let mut builder = start_builder(
            &subject,
            self.cert.as_x509().subject_name(),
            key.as_pkey(),
            not_before,
            not_after,
        )?;
        add_ca_extensions(
            &mut builder,
            Some(self.cert.as_x509()),
            Some(0),
            &params.name_constraints,
        )?;
        builder
            .sign(self.key.as_pkey(), self.key.signing_digest())
            .context("sign the intermediate CA certificate")?;
        Ok(Ca {
            cert: Certificate::from_x509(builder.build()),
            key,
            chain: self.issuer_chain(),
            owner: params.owner.clone(),
            permitted: std::sync::OnceLock::new(),
            issuer: std::sync::OnceLock::new(),
        })
    }

    /// Puts together a CA from its parts, checking that the key belongs to
    /// the certificate and that the certificate is a CA.
    pub fn from_parts(cert: Certificate, key: PrivateKey, chain: Vec<Certificate>) -> Result<Self> {
        Self::from_parts_at(
            cert,
            key,
            chain,
            &Origin::Memory("the CA certificate"),
            &Origin::Memory("the CA key"),
        )
    }

    fn from_parts_at(
        cert: Certificate,
        key: PrivateKey,
        chain: Vec<Certificate>,
        cert_origin: &Origin,
        key_origin: &Origin,
    ) -> Result<Self> {
        if !cert.matches_key(&key) {
            return Err(Error::KeyMismatch {
                cert: cert_origin.clone(),
                key: key_origin.clone(),
            });
        }
        if !cert.is_ca() {
            return Err(Error::NotCa {
                origin: cert_origin.clone(),
            });
        }
        let owner = cert
            .as_x509()
            .subject_name()
            .entries_by_nid(Nid::ORGANIZATIONALUNITNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
            .unwrap_or_else(default_owner);
        Ok(Ca {
            cert,
            key,
            chain,
            owner,
            permitted: std::sync::OnceLock::new(),
            issuer: std::sync::OnceLock::new(),
        })
    }

    /// Loads a CA from a certificate file (its first certificate is the CA,
    /// any others its chain) and a key file.
    pub fn load_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
        passphrase: Option<&Passphrase>,
    ) -> Result<Self> {
        let cert_path = cert_path.as_ref();
        let key_path = key_path.as_ref();
        let mut certs = Certificate::read_all(cert_path)?;
        let cert = certs.remove(0);
        let key = PrivateKey::read(key_path, passphrase)?;
        Self::from_parts_at(
            cert,
            key,
            certs,
            &Origin::file(cert_path),
            &Origin::file(key_path),
        )
    }

    /// The CA's own certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The CA's private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The certificates above this CA, ending with the root (empty for a root).
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The root at the top: the certificate clients must trust.
    pub fn root(&self) -> &Certificate {
        self.chain.last().unwrap_or(&self.cert)
    }

    /// Whose CA this is (`user@host`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// This CA and every certificate above it: the chain of what it issues.
    pub fn issuer_chain(&self) -> Vec<Certificate> {
        let mut out = vec![self.cert.clone()];
        out.extend(self.chain.iter().cloned());
        out
    }

    /// Issues a leaf with a new key; replaces `openssl req -newkey` followed by
    /// `openssl x509 -req -CA ca.pem -CAkey ca-key.pem -extfile san.cnf`.
    ///
    /// ```
    /// use pki::{Ca, CaParams, CertParams};
    /// let ca = Ca::generate(&CaParams::new())?;
    /// let issued = ca.issue(&CertParams::new(["localhost", "127.0.0.1", "::1"])?)?;
    /// assert_eq!(issued.certificate().subject_alt_names().len(), 3);
    /// # Ok::<(), pki::Error>(())
    /// ```
    pub fn issue(&self, params: &CertParams) -> Result<Identity> {
        let key = PrivateKey::generate(params.key_type)?;
        let certificate = self.build_leaf(key.as_pkey(), params)?;
        Ok(Identity::issued(certificate, key, &self.issuer_chain()))
    }

    /// Signs a CSR; replaces `openssl x509 -req -in r.csr -CA ca.pem -CAkey
    /// ca-key.pem`. The CSR's signature must verify, it must not ask for
    /// CA:TRUE, and its key must be one clients accept ([`Csr::check_key`]).
    /// What the certificate says comes from `params` (start from
    /// [`CertParams::from_csr`] to take the CSR's names and profile).
    pub fn sign_csr(&self, csr: &Csr, params: &CertParams) -> Result<Certificate> {
        csr.verify_signature()?;
        csr.check_key()?;
        if csr.requested_extensions()?.ca == Some(true) {
            return Err(Error::CsrRequestsCa {
                origin: csr.origin().clone(),
            });
        }
        let public = csr
            .as_x509_req()
            .public_key()
            .map_err(|_| Error::CsrSignature {
                origin: csr.origin().clone(),
            })?;
        self.build_leaf(&public, params)
    }

    fn build_leaf<T: HasPublic>(
        &self,
        public: &PKeyRef<T>,
        params: &CertParams,
    ) -> Result<Certificate> {
        self.check_name_constraints(params.names())?;
        let (not_before, not_after) =
            self.validity(params.not_before, params.not_after, DEFAULT_LEAF_DAYS)?;
        let cn = params.subject_common_name();
        let cn = (cn.chars().count() <= MAX_CN_LEN).then_some(cn);
        let organization = Some("pki development certificate");
        let contents = LeafContents {
            subject: subject_name_der(cn.as_deref(), organization, Some(&self.owner)),
            not_before,
            not_after,
            profile: params.profile,
            names: params.names(),
        };
        if let Some(leaf) = sign_leaf(&self.key, self.issuer_parts()?, public, &contents)? {
            return Ok(leaf);
        }
        // A CA key the encoder does not sign with (another curve, say):
        // the same certificate through OpenSSL's builder.
        let subject = subject_name(cn.as_deref(), organization, Some(&self.owner))?;
        let mut builder = start_builder(
            &subject,
            self.cert.as_x509().subject_name(),
            public,
            not_before,
            not_after,
        )?;
        // Extensions as DER, not through OpenSSL's config-string path (a
        // fifth of the time of an issue went there).
        builder
            .append_extension(der_extension("2.5.29.19", true, &crate::der::NOT_A_CA)?)
            .context("add basicConstraints")?;
        // TLS 1.2 RSA key exchange encrypts to the key; harmless otherwise.
        let key_encipherment = matches!(public.id(), Id::RSA);
        builder
            .append_extension(der_extension(
                "2.5.29.15",
                true,
                &crate::der::leaf_key_usage(key_encipherment),
            )?)
            .context("add keyUsage")?;
        builder
            .append_extension(eku_extension(params.profile)?)
            .context("add extendedKeyUsage")?;
        add_key_identifiers(&mut builder, Some(self.cert.as_x509()))?;
        builder
            .append_extension(san_extension(params.names())?)
            .context("add subjectAltName")?;
        builder
            .sign(self.key.as_pkey(), self.key.signing_digest())
            .context("sign the certificate")?;
        Ok(Certificate::from_x509(builder.build()))
    }

    /// This CA's name and key identifier as its leaves carry them, taken once.
    fn issuer_parts(&self) -> Result<&IssuerParts> {
        if let Some(parts) = self.issuer.get() {
            return Ok(parts);
        }
        let parts = IssuerParts::of(self.cert.as_x509())?;
        Ok(self.issuer.get_or_init(|| parts))
    }

    /// Refuses names that this CA or one above it may not issue for: clients
    /// would reject such a certificate, so it is better never made.
    pub fn check_name_constraints(&self, names: &[SubjectAltName]) -> Result<()> {
        let all = self.permitted.get_or_init(|| {
            std::iter::once(&self.cert)
                .chain(&self.chain)
                .map(permitted_subtrees)
                .collect()
        });
        for permitted in all {
            for name in names {
                let relevant: Vec<&NameConstraint> = permitted
                    .iter()
                    .filter(|c| c.constrains_kind_of(name))
                    .collect();
                if !relevant.is_empty() && !relevant.iter().any(|c| c.permits(name)) {
                    return Err(Error::OutsideNameConstraints {
                        name: name.to_string(),
                        permitted: permitted
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Ok(())
    }

    /// Works out the validity of something this CA signs: defaults to
    /// `default_days` clamped to the CA's own end; an explicit end past the
    /// CA's is refused, since clients would reject the chain from that day on.
    fn validity(
        &self,
        not_before: Option<SystemTime>,
        not_after: Option<SystemTime>,
        default_days: u32,
    ) -> Result<(SystemTime, SystemTime)> {
        let issuer_end = self.issuer_parts()?.not_after;
        let not_before = not_before.unwrap_or_else(default_not_before);
        // An expired CA issues nothing by default (the backdated start could
        // otherwise hide an end a few minutes ago); an explicit end before
        // the CA's is still allowed, for tests that want expired chains.
        if issuer_end <= SystemTime::now() && (not_after.is_none() || issuer_end <= not_before) {
            return Err(Error::CaExpired {
                subject: self.cert.subject(),
                expired: issuer_end,
            });
        }
        let not_after = match not_after {
            Some(t) if t > issuer_end => {
                return Err(Error::Validity {
                    reason: format!(
                        "the certificate would end on {}, after its CA does ({}); choose an earlier date",
                        format_time(t),
                        format_time(issuer_end)
                    ),
                });
            }
            Some(t) => t,
            None => (not_before + days_to_duration(default_days)).min(issuer_end),
        };
        check_order(not_before, not_after)?;
        Ok((not_before, not_after))
    }
}

/// Makes a self-signed leaf with a new key; replaces `openssl req -x509
/// -newkey … -addext subjectAltName=…`. No client trusts it unless told to
/// trust this very certificate (`curl --cacert cert.pem`), so it suits a
/// throwaway server (Flask's `adhoc`), never a development setup a browser
/// should accept: use a [`Ca`] for that.
///
/// It carries no keyUsage on purpose: one without keyCertSign stops OpenSSL
/// from treating the certificate as its own issuer, and keyCertSign on a
/// CA:FALSE certificate is refused by strict verifiers.
pub fn self_signed(params: &CertParams) -> Result<Identity> {
    let key = PrivateKey::generate(params.key_type)?;
    let not_before = params.not_before.unwrap_or_else(default_not_before);
    let not_after = params
        .not_after
        .unwrap_or_else(|| not_before + days_to_duration(DEFAULT_LEAF_DAYS));
    check_order(not_before, not_after)?;
    let cn = params.subject_common_name();
    let cn = (cn.chars().count() <= MAX_CN_LEN).then_some(cn);
    let subject = subject_name(cn.as_deref(), Some("pki self-signed certificate"), None)?;
    let mut builder = start_builder(&subject, &subject, key.as_pkey(), not_before, not_after)?;
    builder
        .append_extension(
            BasicConstraints::new()
                .critical()
                .build()
                .context("build basicConstraints")?,
        )
        .context("add basicConstraints")?;
    builder
        .append_extension(eku_extension(params.profile)?)
        .context("add extendedKeyUsage")?;
    add_key_identifiers(&mut builder, None)?;
    builder
        .append_extension(san_extension(params.names())?)
        .context("add subjectAltName")?;
    builder
        .sign(key.as_pkey(), key.signing_digest())
        .context("sign the certificate")?;
    Ok(Identity::issued(
        Certificate::from_x509(builder.build()),
        key,
        &[],
    ))
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("certificate", &self.cert)
            .field("key", &self.key)
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

/// The permitted subtrees of a CA certificate's nameConstraints.
fn permitted_subtrees(ca: &Certificate) -> Vec<NameConstraint> {
    ca.parsed(|c| {
        let Ok(Some(ext)) = c.name_constraints() else {
            return Vec::new();
        };
        ext.value
            .permitted_subtrees
            .iter()
            .flatten()
            .filter_map(|subtree| match &subtree.base {
                GeneralName::DNSName(d) => Some(NameConstraint::Dns(d.to_ascii_lowercase())),
                GeneralName::IPAddress(bytes) => {
                    let half = bytes.len() / 2;
                    let network = ip_from_bytes(&bytes[..half])?;
                    let prefix = bytes[half..].iter().map(|b| b.count_ones()).sum::<u32>();
                    Some(NameConstraint::Ip {
                        network,
                        prefix: u8::try_from(prefix).ok()?,
                    })
                }
                _ => None,
            })
            .collect()
    })
    .unwrap_or_default()
}

impl Ca {
    /// The key algorithm of the CA.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key.algorithm()
    }

    /// What strict clients will hold against certificates this CA issues,
    /// for CAs made elsewhere (the seed recipes' `openssl req -x509` root has
    /// no keyUsage). Empty for every CA `pki` makes.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ca in std::iter::once(&self.cert).chain(&self.chain) {
            let x509 = ca.as_x509();
            if x509.key_usage().is_none() {
                out.push(format!(
                    "the CA '{}' has no keyUsage extension; strict verifiers (openssl verify -x509_strict, Python 3.13+) refuse the certificates it issues; create a new CA with pki",
                    ca.subject()
                ));
            }
            if x509.subject_key_id().is_none() {
                out.push(format!(
                    "the CA '{}' has no subjectKeyIdentifier; strict verifiers refuse chains through it",
                    ca.subject()
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use openssl::x509::X509Builder;
    use openssl::x509::extension::SubjectKeyIdentifier;

    use super::*;

    #[test]
    fn root_is_a_ca_and_issues_leaves_with_names() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        assert!(ca.certificate().is_ca());
        assert!(ca.certificate().is_self_issued());
        assert!(ca.warnings().is_empty(), "{:?}", ca.warnings());
        let issued = ca.issue(&CertParams::new(["localhost", "127.0.0.1", "::1"])?)?;
        assert!(!issued.certificate().is_ca());
        assert_eq!(issued.certificate().subject_alt_names().len(), 3);
        assert!(issued.certificate().matches_key(issued.key()));
        Ok(())
    }

    #[test]
    fn default_leaf_validity_is_825_days_and_never_past_the_ca() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        let leaf = ca
            .issue(&CertParams::new(["a.test"])?)?
            .certificate()
            .clone();
        let span = leaf
            .not_after()
            .duration_since(leaf.not_before())
            .unwrap_or_default();
        assert_eq!(span, days_to_duration(DEFAULT_LEAF_DAYS));

        let short = Ca::generate(&CaParams::new().valid_for_days(10))?;
        let leaf = short
            .issue(&CertParams::new(["a.test"])?)?
            .certificate()
            .clone();
        assert_eq!(leaf.not_after(), short.certificate().not_after());
        let too_long = CertParams::new(["a.test"])?.valid_for_days(11);
        assert!(matches!(
            short.issue(&too_long),
            Err(Error::Validity { .. })
        ));
        Ok(())
    }

    #[test]
    fn name_constraints_refuse_names_outside() -> Result<()> {
        let ca = Ca::generate(
            &CaParams::new()
                .permit(NameConstraint::parse("localhost")?)
                .permit(NameConstraint::parse(".test")?)
                .permit(NameConstraint::parse("127.0.0.0/8")?),
        )?;
        ca.issue(&CertParams::new(["localhost", "app.test", "127.0.0.1"])?)?;
        let err = ca.issue(&CertParams::new(["example.com"])?);
        assert!(
            matches!(err, Err(Error::OutsideNameConstraints { ref name, .. }) if name == "example.com")
        );
        let err = ca.issue(&CertParams::new(["10.0.0.1"])?);
        assert!(matches!(err, Err(Error::OutsideNameConstraints { .. })));
        Ok(())
    }

    #[test]
    fn an_intermediate_cannot_issue_another_ca() -> Result<()> {
        let root = Ca::generate(&CaParams::new())?;
        let intermediate = root.issue_intermediate(&CaParams::new())?;
        assert_eq!(intermediate.chain().len(), 1);
        assert_eq!(intermediate.root(), root.certificate());
        let err = intermediate.issue_intermediate(&CaParams::new());
        assert!(matches!(err, Err(Error::PathLenZero { .. })));
        Ok(())
    }

    #[test]
    fn a_self_signed_leaf_is_trusted_only_as_itself() -> Result<()> {
        let issued = self_signed(&CertParams::new(["localhost", "127.0.0.1"])?)?;
        let cert = &issued.certificate();
        assert!(!cert.is_ca());
        assert!(cert.is_self_issued());
        assert!(issued.intermediates().is_empty() && issued.root().is_none());
        let params = crate::verify::VerifyParams::new()
            .peer(SubjectAltName::parse("127.0.0.1")?)
            .purpose(crate::verify::Purpose::Server);
        assert!(crate::verify::verify(cert, &[], std::slice::from_ref(cert), &params).is_ok());
        let other = Ca::generate(&CaParams::new())?;
        let refused = crate::verify::verify(cert, &[], &[other.certificate().clone()], &params)
            .expect_err("a self-signed leaf must not chain to another CA");
        assert!(
            refused.to_string().contains("not among the trusted CAs"),
            "{refused}"
        );
        Ok(())
    }

    #[test]
    fn serials_differ_and_are_large() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        let a = ca
            .issue(&CertParams::new(["a.test"])?)?
            .certificate()
            .serial_hex();
        let b = ca
            .issue(&CertParams::new(["a.test"])?)?
            .certificate()
            .serial_hex();
        assert_ne!(a, b);
        assert!(a.len() >= 16, "{a}");
        Ok(())
    }

    #[test]
    fn expired_leaves_can_be_made_for_tests() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        let past = SystemTime::now() - Duration::from_secs(86_400 * 30);
        let params = CertParams::new(["a.test"])?
            .not_before(past)
            .not_after(past + Duration::from_secs(86_400));
        let leaf = ca.issue(&params)?.certificate().clone();
        assert!(leaf.not_after() < SystemTime::now());
        Ok(())
    }

    /// The key identifiers pki encodes itself are the ones OpenSSL's
    /// config-string path computes, and the leaf's AKI is the CA's SKI.
    #[test]
    fn key_identifiers_match_openssls() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        for kt in [KeyType::P256, KeyType::Rsa2048, KeyType::Ed25519] {
            let issued = ca.issue(&CertParams::new(["a.test"])?.key_type(kt))?;
            let leaf = issued.certificate().as_x509();
            let mut reference = X509Builder::new().context("builder")?;
            reference
                .set_pubkey(issued.key().as_pkey())
                .context("set key")?;
            let expected = SubjectKeyIdentifier::new()
                .build(&reference.x509v3_context(None, None))
                .context("ski")?
                .to_der()
                .context("der")?;
            let ours = leaf
                .subject_key_id()
                .map(|id| id.as_slice().to_vec())
                .unwrap_or_default();
            assert!(!ours.is_empty(), "{kt}: no SKI");
            assert!(
                expected.windows(ours.len()).any(|w| w == ours.as_slice()),
                "{kt}: SKI differs from OpenSSL's"
            );
            assert_eq!(
                leaf.authority_key_id().map(|id| id.as_slice().to_vec()),
                ca.certificate()
                    .as_x509()
                    .subject_key_id()
                    .map(|id| id.as_slice().to_vec()),
                "{kt}"
            );
        }
        Ok(())
    }

    /// A CA that ended a minute ago lies inside the 5-minute backdating of a
    /// new leaf's start; it must still be refused, not issue a dead leaf.
    #[test]
    fn a_ca_expired_a_minute_ago_issues_nothing() -> Result<()> {
        let now = SystemTime::now();
        let ca = Ca::generate(
            &CaParams::new()
                .not_before(now - Duration::from_secs(86_400))
                .not_after(now - Duration::from_secs(60)),
        )?;
        match ca.issue(&CertParams::new(["a.test"])?) {
            Err(Error::CaExpired { .. }) => Ok(()),
            other => panic!("expected CaExpired, got {other:?}"),
        }
    }
}
