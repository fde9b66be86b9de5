//! Verifying a certificate as a TLS client or server would (`openssl
//! verify`, plus the browser's view of names), and saying why it fails in
//! words a person can act on: which name is missing, which date passed,
//! which issuer is not trusted. A failure is never a bare `false`.

use std::fmt;
use std::net::IpAddr;
use std::time::SystemTime;

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509CheckFlags, X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509, X509PurposeId, X509Ref, X509StoreContext};

use crate::cert::{Certificate, one_line};
use crate::name::SubjectAltName;
use crate::time::format_time;

// OpenSSL 3's verification error codes (`X509_V_ERR_*` in x509_vfy.h). Most
// are unchanged since 1.0; INVALID_CA moved from 24 to 79 in 3.0.
const ERR_UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
const ERR_CERT_SIGNATURE_FAILURE: i32 = 7;
const ERR_CERT_NOT_YET_VALID: i32 = 9;
const ERR_CERT_HAS_EXPIRED: i32 = 10;
const ERR_DEPTH_ZERO_SELF_SIGNED_CERT: i32 = 18;
const ERR_SELF_SIGNED_CERT_IN_CHAIN: i32 = 19;
const ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
const ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: i32 = 21;
const ERR_CERT_REVOKED: i32 = 23;
const ERR_INVALID_CA: i32 = 79;
const ERR_CA_CERT_MISSING_KEY_USAGE: i32 = 92;
const ERR_PATH_LENGTH_EXCEEDED: i32 = 25;
const ERR_INVALID_PURPOSE: i32 = 26;
const ERR_KEYUSAGE_NO_CERTSIGN: i32 = 32;
const ERR_PERMITTED_VIOLATION: i32 = 47;
const ERR_EXCLUDED_VIOLATION: i32 = 48;
const ERR_EMAIL_MISMATCH: i32 = 63;
const ERR_HOSTNAME_MISMATCH: i32 = 62;
const ERR_IP_ADDRESS_MISMATCH: i32 = 64;

/// What the certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// A TLS server certificate (what HTTPS clients check).
    #[default]
    Server,
    /// A TLS client certificate (what a mutual-TLS server checks).
    Client,
    /// Chain and dates only.
    Any,
}

impl Purpose {
    fn id(self) -> X509PurposeId {
        match self {
            Purpose::Server => X509PurposeId::SSL_SERVER,
            Purpose::Client => X509PurposeId::SSL_CLIENT,
            Purpose::Any => X509PurposeId::ANY,
        }
    }

    fn eku_name(self) -> &'static str {
        match self {
            Purpose::Server => "serverAuth",
            Purpose::Client => "clientAuth",
            Purpose::Any => "any",
        }
    }
}

/// How to verify: for what, for which host or address, and when.
#[derive(Default)]
pub struct VerifyParams {
    purpose: Purpose,
    peer: Option<SubjectAltName>,
    at: Option<SystemTime>,
    crls: Vec<openssl::x509::X509Crl>,
}

impl VerifyParams {
    /// Server purpose, no name check, now.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the purpose.
    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }

    /// Checks the certificate for this host name or IP address, as a TLS
    /// client connecting to it would (`-verify_hostname` / `-verify_ip`).
    pub fn peer(mut self, peer: SubjectAltName) -> Self {
        self.peer = Some(peer);
        self
    }

    /// Verifies at this time instead of now (`-attime`).
    pub fn at(mut self, time: SystemTime) -> Self {
        self.at = Some(time);
        self
    }

    /// Checks revocation of the leaf against this CRL (`-crl_check`); a CRL
    /// from the leaf's issuer must then be among those given.
    pub fn crl(mut self, crl: openssl::x509::X509Crl) -> Self {
        self.crls.push(crl);
        self
    }
}

impl fmt::Debug for VerifyParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyParams")
            .field("purpose", &self.purpose)
            .field("peer", &self.peer)
            .field("at", &self.at)
            .field("crls", &self.crls.len())
            .finish()
    }
}

/// A successful verification: the chain that was built, leaf first, trust anchor last.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The chain.
    pub chain: Vec<Certificate>,
}

impl Verified {
    /// The chain as subjects: `CN=localhost ← CN=pki intermediate ← CN=pki root`.
    pub fn describe(&self) -> String {
        self.chain
            .iter()
            .map(Certificate::subject)
            .collect::<Vec<_>>()
            .join(" ← ")
    }
}

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The host or address is not among the certificate's names.
    NameMismatch {
        /// What was asked for.
        wanted: String,
        /// The names the certificate has.
        names: Vec<String>,
    },
    /// No subjectAltName: browsers ignore CN.
    NoSubjectAltName {
        /// The CN that clients would ignore.
        common_name: Option<String>,
    },
    /// A certificate of the chain has expired.
    Expired {
        /// Whose.
        subject: String,
        /// When.
        on: SystemTime,
    },
    /// A certificate of the chain is not valid yet.
    NotYetValid {
        /// Whose.
        subject: String,
        /// From when it is.
        from: SystemTime,
    },
    /// The issuer is not among the trust anchors (and not given as intermediate).
    UntrustedIssuer {
        /// The issuer's name.
        issuer: String,
    },
    /// A self-signed certificate that is not itself trusted.
    UntrustedSelfSigned {
        /// Its subject.
        subject: String,
    },
    /// The extendedKeyUsage does not allow the purpose.
    WrongPurpose {
        /// The purpose asked for (`serverAuth`, `clientAuth`).
        wanted: &'static str,
        /// What the certificate allows.
        allowed: Vec<String>,
    },
    /// A v1 certificate sits where a CA must be.
    V1Ca {
        /// Its subject.
        subject: String,
    },
    /// A CA without keyUsage, which strict verification requires.
    CaWithoutKeyUsage {
        /// The CA's subject.
        subject: String,
    },
    /// A CA's pathlen allows no CA below it, yet one is in the chain.
    PathLengthExceeded {
        /// The CA whose pathlen is exceeded.
        subject: String,
    },
    /// The CRL given for the issuer is past its nextUpdate.
    CrlExpired {
        /// The CRL's issuer.
        issuer: String,
        /// Its nextUpdate.
        on: SystemTime,
    },
    /// The CRL given for the issuer starts later than the verification time.
    CrlNotYetValid {
        /// The CRL's issuer.
        issuer: String,
        /// Its thisUpdate.
        from: SystemTime,
    },
    /// A certificate in a CA position is not a CA.
    NotCa {
        /// Its subject.
        subject: String,
    },
    /// A signature does not verify.
    BadSignature {
        /// Whose signature.
        subject: String,
    },
    /// The certificate is revoked.
    Revoked {
        /// Its subject.
        subject: String,
    },
    /// No CRL signed by the leaf's issuer was given.
    NoCrl {
        /// The issuer.
        issuer: String,
    },
    /// A CA's name constraints do not allow a name.
    OutsideNameConstraints {
        /// The certificate's subject.
        subject: String,
    },
    /// Anything else OpenSSL refused, in its own words.
    Other {
        /// OpenSSL's code.
        code: i32,
        /// OpenSSL's text.
        text: String,
    },
}

/// A refused certificate: the reason, and OpenSSL's own words for reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub reason: Reason,
    /// What OpenSSL said (`hostname mismatch`, `certificate has expired`), if it was OpenSSL.
    pub openssl: Option<String>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Reason::NameMismatch { wanted, names } => write!(
                f,
                "{wanted} is not among the certificate's names: {}; issue a certificate that includes it",
                if names.is_empty() {
                    "(none)".to_owned()
                } else {
                    names.join(", ")
                }
            ),
            Reason::NoSubjectAltName { common_name } => {
                write!(
                    f,
                    "the certificate has no subjectAltName, so browsers ignore its CN"
                )?;
                if let Some(cn) = common_name {
                    write!(f, " ({cn})")?;
                }
                write!(f, "; issue it again with the host names as subjectAltNames")
            }
            Reason::Expired { subject, on } => write!(
                f,
                "the certificate '{subject}' expired on {}; issue a new one",
                format_time(*on)
            ),
            Reason::NotYetValid { subject, from } => write!(
                f,
                "the certificate '{subject}' is not valid until {}; check this machine's clock",
                format_time(*from)
            ),
            Reason::UntrustedIssuer { issuer } => write!(
                f,
                "issued by '{issuer}', which is not among the trusted CAs; pass that CA's certificate as trusted, or the missing intermediate"
            ),
            Reason::UntrustedSelfSigned { subject } => write!(
                f,
                "'{subject}' is self-signed and not among the trusted CAs; no client will trust it unless told to"
            ),
            Reason::WrongPurpose { wanted, allowed } => write!(
                f,
                "the certificate cannot be used for {wanted}: extendedKeyUsage allows {} only",
                allowed.join(", ")
            ),
            Reason::V1Ca { subject } => write!(
                f,
                "'{subject}' is a v1 certificate, and a v1 certificate cannot be a CA; make the CA with basicConstraints CA:TRUE (v3)"
            ),
            Reason::NotCa { subject } => write!(
                f,
                "'{subject}' signed another certificate but is not a CA (no basicConstraints CA:TRUE with keyCertSign)"
            ),
            Reason::CaWithoutKeyUsage { subject } => write!(
                f,
                "the CA '{subject}' has no keyUsage extension, which strict verifiers (openssl -x509_strict, Python 3.13+) require of a CA; create the CA again with pki"
            ),
            Reason::PathLengthExceeded { subject } => write!(
                f,
                "'{subject}' has pathlen 0: its path length limit allows no CA below it, yet the chain has one; issue the leaf directly from '{subject}'"
            ),
            Reason::CrlExpired { issuer, on } => write!(
                f,
                "the CRL from '{issuer}' expired on {} (its nextUpdate); write a new one",
                format_time(*on)
            ),
            Reason::CrlNotYetValid { issuer, from } => write!(
                f,
                "the CRL from '{issuer}' is not valid until {} (its thisUpdate); check this machine's clock",
                format_time(*from)
            ),
            Reason::BadSignature { subject } => write!(
                f,
                "the signature on '{subject}' does not verify: it was not signed by the CA it names, or was altered"
            ),
            Reason::Revoked { subject } => write!(f, "'{subject}' has been revoked by its CA"),
            Reason::NoCrl { issuer } => write!(
                f,
                "no CRL signed by the issuer '{issuer}' was given, so revocation cannot be checked"
            ),
            Reason::OutsideNameConstraints { subject } => write!(
                f,
                "'{subject}' has a name outside what its CA may issue for (name constraints)"
            ),
            Reason::Other { text, .. } => write!(f, "verification failed: {text}"),
        }
    }
}

impl std::error::Error for Rejected {}

/// Verifies `leaf` with the given intermediates against `trusted` roots;
/// replaces `openssl verify -x509_strict -purpose sslserver -verify_hostname
/// H -CAfile ca.pem -untrusted chain.pem leaf.pem`.
///
/// ```
/// use pki::{Ca, CaParams, CertParams, SubjectAltName};
/// use pki::verify::{verify, VerifyParams};
/// let ca = Ca::generate(&CaParams::new())?;
/// let server = ca.issue(&CertParams::new(["localhost"])?)?;
/// let params = VerifyParams::new().peer(SubjectAltName::parse("127.0.0.1")?);
/// let refused = verify(server.certificate(), server.intermediates(), &[ca.certificate().clone()], &params)
///     .unwrap_err();
/// assert_eq!(refused.to_string(),
///     "127.0.0.1 is not among the certificate's names: localhost; issue a certificate that includes it");
/// # Ok::<(), pki::Error>(())
/// ```
pub fn verify(
    leaf: &Certificate,
    intermediates: &[Certificate],
    trusted: &[Certificate],
    params: &VerifyParams,
) -> Result<Verified, Rejected> {
    let ours = |reason| Rejected {
        reason,
        openssl: None,
    };
    // Browsers never read CN: refuse a SAN-less leaf before OpenSSL, which
    // would fall back to CN, can accept it.
    if params.peer.is_some() && leaf.as_x509().subject_alt_names().is_none() {
        return Err(ours(Reason::NoSubjectAltName {
            common_name: common_name(leaf.as_x509()),
        }));
    }
    let verified =
        run_openssl(leaf, intermediates, trusted, params).map_err(|(code, text, failing)| {
            let reason = explain(code, &text, leaf, failing.as_deref(), params);
            Rejected {
                reason,
                openssl: Some(text),
            }
        })?;
    if !params.crls.is_empty() {
        let at = params.at.unwrap_or_else(SystemTime::now);
        check_revocation(leaf, &verified, &params.crls, at).map_err(ours)?;
    }
    Ok(verified)
}

/// Looks the leaf up in a CRL signed by its issuer, as `-crl_check` does.
fn check_revocation(
    leaf: &Certificate,
    verified: &Verified,
    crls: &[openssl::x509::X509Crl],
    at: SystemTime,
) -> Result<(), Reason> {
    let subject = leaf.subject();
    let issuer = verified.chain.get(1).ok_or_else(|| Reason::Other {
        code: -1,
        text: "the chain has no issuer to check revocation against".to_owned(),
    })?;
    let issuer_key = issuer.as_x509().public_key().map_err(|e| Reason::Other {
        code: -1,
        text: format!("the issuer's key cannot be read: {e}"),
    })?;
    let from_issuer = crls.iter().find(|crl| {
        crl.issuer_name()
            .try_cmp(issuer.as_x509().subject_name())
            .is_ok_and(|o| o.is_eq())
            && crl.verify(&issuer_key).unwrap_or(false)
    });
    let Some(crl) = from_issuer else {
        return Err(Reason::NoCrl {
            issuer: issuer.subject(),
        });
    };
    // A stale CRL may lack recent revocations: refuse it as `-crl_check` does.
    let this_update = crate::time::to_system_time(crl.last_update());
    if this_update > at {
        return Err(Reason::CrlNotYetValid {
            issuer: issuer.subject(),
            from: this_update,
        });
    }
    if let Some(next) = crl.next_update().map(crate::time::to_system_time)
        && next < at
    {
        return Err(Reason::CrlExpired {
            issuer: issuer.subject(),
            on: next,
        });
    }
    match crl.get_by_cert(leaf.as_x509()) {
        openssl::x509::CrlStatus::NotRevoked => Ok(()),
        _ => Err(Reason::Revoked { subject }),
    }
}

type Failure = (i32, String, Option<X509>);

fn run_openssl(
    leaf: &Certificate,
    intermediates: &[Certificate],
    trusted: &[Certificate],
    params: &VerifyParams,
) -> Result<Verified, Failure> {
    let setup = |what: &str, e: openssl::error::ErrorStack| {
        (
            -1,
            format!("could not set up verification ({what}): {e}"),
            None,
        )
    };
    let mut store = X509StoreBuilder::new().map_err(|e| setup("store", e))?;
    for anchor in trusted {
        store
            .add_cert(anchor.as_x509().clone())
            .map_err(|e| setup("trust anchor", e))?;
    }
    let mut vp = X509VerifyParam::new().map_err(|e| setup("parameters", e))?;
    vp.set_flags(X509VerifyFlags::X509_STRICT)
        .map_err(|e| setup("flags", e))?;
    vp.set_purpose(params.purpose.id())
        .map_err(|e| setup("purpose", e))?;
    vp.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS | X509CheckFlags::NEVER_CHECK_SUBJECT);
    match &params.peer {
        Some(SubjectAltName::Ip(ip)) => vp.set_ip(*ip).map_err(|e| setup("IP", e))?,
        Some(SubjectAltName::Dns(d)) => vp.set_host(d.as_str()).map_err(|e| setup("host", e))?,
        Some(SubjectAltName::Email(e)) => vp.set_email(e).map_err(|err| setup("email", err))?,
        Some(SubjectAltName::Uri(_)) | None => {}
    }
    if let Some(at) = params.at {
        let secs = at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        vp.set_time(secs as _);
    }
    store.set_param(&vp).map_err(|e| setup("parameters", e))?;
    let store = store.build();
    let mut chain = Stack::new().map_err(|e| setup("chain", e))?;
    for c in intermediates {
        chain
            .push(c.as_x509().clone())
            .map_err(|e| setup("chain", e))?;
    }
    let mut ctx = X509StoreContext::new().map_err(|e| setup("context", e))?;
    let outcome = ctx.init(&store, leaf.as_x509(), &chain, |ctx| {
        let ok = ctx.verify_cert()?;
        let built: Vec<Certificate> = ctx
            .chain()
            .map(|s| {
                s.iter()
                    .map(|c| Certificate::from_x509(c.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let failing = ctx.current_cert().map(X509Ref::to_owned);
        Ok((ok, ctx.error(), built, failing))
    });
    match outcome {
        Ok((true, _, built, _)) => Ok(Verified { chain: built }),
        Ok((false, err, _, failing)) => Err((err.as_raw(), err.error_string().to_owned(), failing)),
        Err(e) => Err(setup("run", e)),
    }
}

fn explain(
    code: i32,
    text: &str,
    leaf: &Certificate,
    failing: Option<&X509Ref>,
    params: &VerifyParams,
) -> Reason {
    let failing = failing.unwrap_or(leaf.as_x509());
    let subject = one_line(failing.subject_name());
    match code {
        ERR_HOSTNAME_MISMATCH | ERR_IP_ADDRESS_MISMATCH | ERR_EMAIL_MISMATCH => {
            Reason::NameMismatch {
                wanted: params
                    .peer
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                names: leaf
                    .subject_alt_names()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            }
        }
        ERR_CERT_HAS_EXPIRED => Reason::Expired {
            subject,
            on: crate::time::to_system_time(failing.not_after()),
        },
        ERR_CERT_NOT_YET_VALID => Reason::NotYetValid {
            subject,
            from: crate::time::to_system_time(failing.not_before()),
        },
        ERR_UNABLE_TO_GET_ISSUER_CERT
        | ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE => Reason::UntrustedIssuer {
            issuer: one_line(failing.issuer_name()),
        },
        ERR_DEPTH_ZERO_SELF_SIGNED_CERT | ERR_SELF_SIGNED_CERT_IN_CHAIN => {
            Reason::UntrustedSelfSigned { subject }
        }
        ERR_INVALID_PURPOSE => Reason::WrongPurpose {
            wanted: params.purpose.eku_name(),
            allowed: eku_names(failing),
        },
        ERR_CA_CERT_MISSING_KEY_USAGE => Reason::CaWithoutKeyUsage { subject },
        ERR_PATH_LENGTH_EXCEEDED => Reason::PathLengthExceeded { subject },
        ERR_INVALID_CA | ERR_KEYUSAGE_NO_CERTSIGN => {
            if failing.version() == 0 {
                Reason::V1Ca { subject }
            } else {
                Reason::NotCa { subject }
            }
        }
        ERR_CERT_SIGNATURE_FAILURE => Reason::BadSignature { subject },
        ERR_CERT_REVOKED => Reason::Revoked { subject },
        ERR_PERMITTED_VIOLATION | ERR_EXCLUDED_VIOLATION => {
            Reason::OutsideNameConstraints { subject }
        }
        _ => Reason::Other {
            code,
            text: text.to_owned(),
        },
    }
}

fn eku_names(cert: &X509Ref) -> Vec<String> {
    use openssl::x509::X509ExtendedKeyUsage as Eku;
    let Some(eku) = cert.extended_key_usage() else {
        return vec!["any purpose".to_owned()];
    };
    let known = [
        (Eku::SSL_SERVER, "serverAuth"),
        (Eku::SSL_CLIENT, "clientAuth"),
        (Eku::SMIME, "emailProtection"),
        (Eku::CODE_SIGN, "codeSigning"),
        (Eku::OCSP_SIGN, "OCSPSigning"),
        (Eku::TIMESTAMP, "timeStamping"),
        (Eku::ANYEKU, "anyExtendedKeyUsage"),
    ];
    let names: Vec<String> = known
        .iter()
        .filter(|(bit, _)| eku.contains(*bit))
        .map(|(_, n)| (*n).to_owned())
        .collect();
    if names.is_empty() {
        vec!["other purposes".to_owned()]
    } else {
        names
    }
}

fn common_name(cert: &X509Ref) -> Option<String> {
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
}

/// Parses a host name or IP typed by a user for [`VerifyParams::peer`].
pub fn peer(input: &str) -> crate::Result<SubjectAltName> {
    match input.parse::<IpAddr>() {
        Ok(ip) => Ok(SubjectAltName::Ip(ip)),
        Err(_) => SubjectAltName::parse(&format!("DNS:{input}")),
    }
}

/// Whether OpenSSL's default trust store (its default CA file and
/// directory, or `SSL_CERT_FILE`/`SSL_CERT_DIR`) trusts `ca`: what curl,
/// Python and this process's own TLS clients would conclude. The CA's
/// dates are not checked: an expired CA that is installed is still installed.
pub fn system_trusts(ca: &Certificate) -> bool {
    trusts(ca.as_x509())
}

fn trusts(ca: &X509) -> bool {
    let check = || -> Result<bool, openssl::error::ErrorStack> {
        let mut store = X509StoreBuilder::new()?;
        store.set_default_paths()?;
        // An intermediate installed as an anchor counts as trusted on its own.
        store.set_flags(X509VerifyFlags::PARTIAL_CHAIN | X509VerifyFlags::NO_CHECK_TIME)?;
        let store = store.build();
        let mut ctx = X509StoreContext::new()?;
        let chain = Stack::new()?;
        ctx.init(&store, ca, &chain, |c| c.verify_cert())
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Ca, CaParams, CertParams, Profile};

    fn setup() -> crate::Result<(Ca, Certificate)> {
        let ca = Ca::generate(&CaParams::new())?;
        let leaf = ca
            .issue(&CertParams::new(["localhost", "alice.example.net"])?)?
            .certificate()
            .clone();
        Ok((ca, leaf))
    }

    fn refused(
        leaf: &Certificate,
        chain: &[Certificate],
        trusted: &[Certificate],
        p: &VerifyParams,
    ) -> String {
        match verify(leaf, chain, trusted, p) {
            Ok(v) => panic!("expected a refusal, got {}", v.describe()),
            Err(r) => r.to_string(),
        }
    }

    #[test]
    fn a_good_chain_says_which_chain_it_built() -> crate::Result<()> {
        let root = Ca::generate(&CaParams::new().common_name("Test Root"))?;
        let mid = root.issue_intermediate(&CaParams::new().common_name("Test Mid"))?;
        let leaf = mid
            .issue(&CertParams::new(["localhost"])?)?
            .certificate()
            .clone();
        let v = verify(
            &leaf,
            &[mid.certificate().clone()],
            &[root.certificate().clone()],
            &VerifyParams::new().peer(peer("localhost")?),
        )
        .map_err(|r| crate::Error::Validity {
            reason: r.to_string(),
        })?;
        assert_eq!(v.chain.len(), 3);
        assert!(v.describe().contains("CN=Test Mid"), "{}", v.describe());
        Ok(())
    }

    #[test]
    fn failures_are_explained() -> crate::Result<()> {
        let (ca, leaf) = setup()?;
        let trusted = [ca.certificate().clone()];
        let msg = refused(
            &leaf,
            &[],
            &trusted,
            &VerifyParams::new().peer(peer("127.0.0.1")?),
        );
        assert!(
            msg.starts_with(
                "127.0.0.1 is not among the certificate's names: localhost, alice.example.net"
            ),
            "{msg}"
        );

        let other = Ca::generate(&CaParams::new().common_name("Elsewhere CA"))?;
        let msg = refused(
            &leaf,
            &[],
            &[other.certificate().clone()],
            &VerifyParams::new(),
        );
        assert!(
            msg.contains("issued by '") && msg.contains("not among the trusted CAs"),
            "{msg}"
        );

        let msg = refused(
            &leaf,
            &[],
            &trusted,
            &VerifyParams::new().purpose(Purpose::Client),
        );
        assert!(
            msg.contains("extendedKeyUsage allows serverAuth only"),
            "{msg}"
        );

        let later = SystemTime::now() + Duration::from_secs(900 * 86_400);
        let msg = refused(&leaf, &[], &trusted, &VerifyParams::new().at(later));
        assert!(msg.contains("expired on"), "{msg}");

        let client = ca
            .issue(&CertParams::new(["bob@example.test"])?.profile(Profile::Client))?
            .certificate()
            .clone();
        assert!(
            verify(
                &client,
                &[],
                &trusted,
                &VerifyParams::new().purpose(Purpose::Client)
            )
            .is_ok()
        );
        Ok(())
    }

    /// A certificate as the seed recipes make it: v1, no extensions, CN only.
    fn v1(cn: &str, key: &crate::PrivateKey, issuer: Option<(&X509, &crate::PrivateKey)>) -> X509 {
        use openssl::x509::{X509Builder, X509NameBuilder};
        let mut name = X509NameBuilder::new().unwrap_or_else(|e| panic!("{e}"));
        name.append_entry_by_text("CN", cn)
            .unwrap_or_else(|e| panic!("{e}"));
        let name = name.build();
        let mut b = X509Builder::new().unwrap_or_else(|e| panic!("{e}"));
        b.set_version(0).unwrap_or_else(|e| panic!("{e}"));
        let serial = openssl::bn::BigNum::from_u32(7)
            .and_then(|bn| bn.to_asn1_integer())
            .unwrap_or_else(|e| panic!("{e}"));
        b.set_serial_number(&serial)
            .unwrap_or_else(|e| panic!("{e}"));
        b.set_subject_name(&name).unwrap_or_else(|e| panic!("{e}"));
        let (issuer_name, signer) = match issuer {
            Some((cert, k)) => (cert.subject_name(), k),
            None => (name.as_ref(), key),
        };
        b.set_issuer_name(issuer_name)
            .unwrap_or_else(|e| panic!("{e}"));
        b.set_pubkey(key.as_pkey())
            .unwrap_or_else(|e| panic!("{e}"));
        let start = openssl::asn1::Asn1Time::days_from_now(0).unwrap_or_else(|e| panic!("{e}"));
        let end = openssl::asn1::Asn1Time::days_from_now(30).unwrap_or_else(|e| panic!("{e}"));
        b.set_not_before(&start).unwrap_or_else(|e| panic!("{e}"));
        b.set_not_after(&end).unwrap_or_else(|e| panic!("{e}"));
        b.sign(signer.as_pkey(), openssl::hash::MessageDigest::sha256())
            .unwrap_or_else(|e| panic!("{e}"));
        b.build()
    }

    #[test]
    fn seed_style_v1_certificates_are_explained() -> crate::Result<()> {
        let ca_key = crate::PrivateKey::generate(crate::KeyType::P256)?;
        let ca = v1("root", &ca_key, None);
        let leaf_key = crate::PrivateKey::generate(crate::KeyType::P256)?;
        let leaf = Certificate::from_x509(v1("localhost", &leaf_key, Some((&ca, &ca_key))));
        let trusted = [Certificate::from_x509(ca.clone())];

        let msg = refused(
            &leaf,
            &[],
            &trusted,
            &VerifyParams::new().peer(peer("localhost")?),
        );
        assert!(
            msg.contains("has no subjectAltName, so browsers ignore its CN (localhost)"),
            "{msg}"
        );

        let msg = refused(
            &leaf,
            &[],
            &trusted,
            &VerifyParams::new().purpose(Purpose::Any),
        );
        assert!(msg.contains("v1 certificate cannot be a CA"), "{msg}");

        let self_signed = Certificate::from_x509(v1("me", &leaf_key, None));
        let msg = refused(&self_signed, &[], &trusted, &VerifyParams::new());
        assert!(
            msg.contains("self-signed and not among the trusted CAs"),
            "{msg}"
        );
        Ok(())
    }

    #[test]
    fn not_yet_valid_says_from_when() -> crate::Result<()> {
        let (ca, leaf) = setup()?;
        let earlier = SystemTime::now() - Duration::from_secs(86_400);
        let msg = refused(
            &leaf,
            &[],
            &[ca.certificate().clone()],
            &VerifyParams::new().at(earlier),
        );
        assert!(msg.contains("is not valid until"), "{msg}");
        Ok(())
    }
}
