//! Certificates: what to ask for ([`CertParams`], [`Profile`]), and the
//! [`Certificate`] that comes back or is read from a file. The extensions
//! strict clients want are not optional here: v3, subjectAltName always,
//! keyUsage, extendedKeyUsage by profile, key identifiers.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::x509::{X509, X509NameRef};

use crate::error::{Error, OpenSslContext, Origin, Result};
use crate::fs::{self, Overwrite, Secrecy};
use crate::key::{KeyAlgorithm, KeyType, algorithm_of};
use crate::name::{NameWarning, SubjectAltName};
use crate::pem;

/// Default lifetime of a leaf certificate: 825 days. Apple's platforms
/// refuse TLS server certificates valid for longer, even under a locally
/// trusted root (<https://support.apple.com/en-us/103769>); mkcert uses
/// two years and three months for the same reason.
pub const DEFAULT_LEAF_DAYS: u32 = 825;

/// How far `not_before` is set back from now by default, so that a machine
/// whose clock is a little behind (a VM after sleep, a container) does not
/// see a brand-new certificate as not yet valid.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// The latest end of validity `pki` writes, in seconds since 1970:
/// 9999-12-31 23:59:59 UTC. X.509 dates after 2049 are GeneralizedTime with a
/// four-digit year (RFC 5280 §4.1.2.5, which names this very second for "no
/// well-defined expiration date"); OpenSSL encodes a later one as garbage
/// that reads back as 1970 and makes the certificate or CRL unusable.
pub const LATEST_NOT_AFTER_UNIX: u64 = 253_402_300_799;

/// [`LATEST_NOT_AFTER_UNIX`] as a time.
pub fn latest_not_after() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(LATEST_NOT_AFTER_UNIX)
}

/// What a leaf certificate may be used for: its extendedKeyUsage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// TLS server (serverAuth): HTTPS and other servers.
    #[default]
    Server,
    /// TLS client (clientAuth): mutual TLS.
    Client,
    /// Both serverAuth and clientAuth, for peers that do both (service meshes).
    ServerClient,
}

impl Profile {
    /// The extendedKeyUsage names this profile sets, as OpenSSL names them.
    pub fn extended_key_usages(self) -> &'static [&'static str] {
        match self {
            Profile::Server => &["serverAuth"],
            Profile::Client => &["clientAuth"],
            Profile::ServerClient => &["serverAuth", "clientAuth"],
        }
    }

    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Server => "server",
            Profile::Client => "client",
            Profile::ServerClient => "server+client",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`Profile::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?}; choose server, client or server+client")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, UnknownProfile> {
        match s.to_ascii_lowercase().as_str() {
            "server" => Ok(Profile::Server),
            "client" => Ok(Profile::Client),
            "server+client" | "client+server" | "both" => Ok(Profile::ServerClient),
            _ => Err(UnknownProfile(s.to_owned())),
        }
    }
}

/// What a new leaf certificate should say. Defaults work: a server
/// certificate with a P-256 key valid for [`DEFAULT_LEAF_DAYS`].
///
/// ```
/// use pki::{CertParams, Profile};
/// let params = CertParams::new(["localhost", "127.0.0.1", "::1"])?.profile(Profile::ServerClient);
/// assert_eq!(params.names().len(), 3);
/// # Ok::<(), pki::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CertParams {
    names: Vec<SubjectAltName>,
    pub(crate) profile: Profile,
    pub(crate) key_type: KeyType,
    pub(crate) not_before: Option<SystemTime>,
    pub(crate) not_after: Option<SystemTime>,
    pub(crate) common_name: Option<String>,
}

impl CertParams {
    /// Parses the names a user typed (see [`SubjectAltName::parse`]).
    pub fn new<I, S>(names: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = names
            .into_iter()
            .map(|n| SubjectAltName::parse(n.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Self::from_names(names)
    }

    /// Starts from names already parsed. Duplicates are dropped, the order kept.
    pub fn from_names(names: Vec<SubjectAltName>) -> Result<Self> {
        let mut unique: Vec<SubjectAltName> = Vec::with_capacity(names.len());
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        if unique.is_empty() {
            return Err(Error::NoNames);
        }
        Ok(CertParams {
            names: unique,
            profile: Profile::default(),
            key_type: KeyType::default(),
            not_before: None,
            not_after: None,
            common_name: None,
        })
    }

    /// Sets what the certificate is for.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Sets the type of the key generated by [`crate::Ca::issue`].
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = key_type;
        self
    }

    /// Sets the start of validity (default: now, less [`BACKDATE`]). A time in
    /// the future makes a not-yet-valid certificate, for tests.
    pub fn not_before(mut self, time: SystemTime) -> Self {
        self.not_before = Some(time);
        self
    }

    /// Sets the end of validity (default: [`DEFAULT_LEAF_DAYS`] after
    /// `not_before`, but never past the issuer's). A time in the past makes an
    /// expired certificate, for tests.
    pub fn not_after(mut self, time: SystemTime) -> Self {
        self.not_after = Some(time);
        self
    }

    /// Sets the end of validity to `days` days after `not_before`.
    pub fn valid_for_days(mut self, days: u32) -> Self {
        let start = self.not_before.unwrap_or_else(default_not_before);
        self.not_after = Some(start + days_to_duration(days));
        self
    }

    /// Sets the subject's common name (default: the first name). Clients
    /// ignore it when subjectAltName is present; old tools display it.
    pub fn common_name(mut self, cn: impl Into<String>) -> Self {
        self.common_name = Some(cn.into());
        self
    }

    /// The names, in order, without duplicates.
    pub fn names(&self) -> &[SubjectAltName] {
        &self.names
    }

    /// Cautions about names some clients reject.
    pub fn warnings(&self) -> Vec<NameWarning> {
        self.names
            .iter()
            .filter_map(SubjectAltName::warning)
            .collect()
    }

    pub(crate) fn subject_common_name(&self) -> String {
        match &self.common_name {
            Some(cn) => cn.clone(),
            None => self
                .names
                .first()
                .map(|n| n.to_string())
                .unwrap_or_default(),
        }
    }
}

pub(crate) fn default_not_before() -> SystemTime {
    SystemTime::now() - BACKDATE
}

pub(crate) fn days_to_duration(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 86_400)
}

/// An X.509 certificate.
#[derive(Clone)]
pub struct Certificate {
    x509: X509,
}

impl Certificate {
    /// Wraps a certificate made elsewhere with the openssl crate.
    pub fn from_x509(x509: X509) -> Self {
        Certificate { x509 }
    }

    /// The underlying OpenSSL certificate.
    pub fn as_x509(&self) -> &X509 {
        &self.x509
    }

    /// Reads the first certificate of a PEM text; replaces `openssl x509 -in`.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        first(parse_all(pem, &Origin::Memory("the certificate"))?)
    }

    /// Reads a DER certificate; replaces `openssl x509 -inform DER`.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        first(parse_all(der, &Origin::Memory("the certificate"))?)
    }

    /// Reads the first certificate of a PEM or DER file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        first(Self::read_all(path)?)
    }

    /// Reads every certificate of a PEM file (a chain or bundle), or the one of a DER file.
    pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<Self>> {
        let path = path.as_ref();
        parse_all(&fs::read(path)?, &Origin::file(path))
    }

    /// Every certificate of a PEM text, in order.
    pub fn chain_from_pem(pem: &[u8]) -> Result<Vec<Self>> {
        parse_all(pem, &Origin::Memory("the certificate chain"))
    }

    /// PEM (`-----BEGIN CERTIFICATE-----`).
    pub fn to_pem(&self) -> Result<Vec<u8>> {
        self.x509.to_pem().context("encode the certificate as PEM")
    }

    /// DER; replaces `openssl x509 -outform DER`.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        self.x509.to_der().context("encode the certificate as DER")
    }

    /// Writes the certificate as PEM, mode 0644, refusing to overwrite.
    pub fn write_pem(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        fs::write_atomic(path, &self.to_pem()?, Secrecy::Public, Overwrite::Refuse)
    }

    /// The subjectAltNames, in the order the certificate lists them.
    /// Entries of kinds `pki` does not model (directoryName, otherName) are skipped.
    pub fn subject_alt_names(&self) -> Vec<SubjectAltName> {
        let Some(stack) = self.x509.subject_alt_names() else {
            return Vec::new();
        };
        stack
            .iter()
            .filter_map(|gn| {
                if let Some(dns) = gn.dnsname() {
                    return SubjectAltName::parse(&format!("DNS:{dns}")).ok();
                }
                if let Some(ip) = gn.ipaddress() {
                    return ip_from_bytes(ip).map(SubjectAltName::Ip);
                }
                if let Some(email) = gn.email() {
                    return Some(SubjectAltName::Email(email.to_owned()));
                }
                gn.uri().map(|uri| SubjectAltName::Uri(uri.to_owned()))
            })
            .collect()
    }

    /// The subject, one line, most significant part last as `openssl x509
    /// -subject -nameopt RFC2253` prints it reversed: `CN=localhost, O=…`.
    pub fn subject(&self) -> String {
        one_line(self.x509.subject_name())
    }

    /// The issuer, in the same form as [`Certificate::subject`].
    pub fn issuer(&self) -> String {
        one_line(self.x509.issuer_name())
    }

    /// The serial number in hex, as `openssl x509 -serial` prints it.
    pub fn serial_hex(&self) -> String {
        self.x509
            .serial_number()
            .to_bn()
            .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// Start of validity.
    pub fn not_before(&self) -> SystemTime {
        to_system_time(self.x509.not_before())
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        to_system_time(self.x509.not_after())
    }

    /// The algorithm of the certified public key.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        match self.x509.public_key() {
            Ok(pk) => algorithm_of(pk.id(), pk.bits(), || {
                pk.ec_key().ok().and_then(|k| k.group().curve_name())
            }),
            Err(_) => KeyAlgorithm::Other,
        }
    }

    /// Whether `key` is the private half of this certificate's public key.
    pub fn matches_key(&self, key: &crate::PrivateKey) -> bool {
        self.x509
            .public_key()
            .is_ok_and(|pk| pk.public_eq(key.as_pkey()))
    }

    /// Whether the certificate may act as a CA: basicConstraints CA:TRUE,
    /// and keyCertSign if it has a keyUsage at all.
    pub fn is_ca(&self) -> bool {
        let may_sign = self
            .x509
            .key_usage()
            .is_none_or(|ku| ku.contains(openssl::x509::X509KeyUsage::KEY_CERT_SIGN));
        self.claims_ca() && may_sign
    }

    /// Whether basicConstraints says `CA:TRUE`, whatever keyUsage says: what
    /// browsers refuse as an end entity (server or client certificate), even
    /// where [`Certificate::is_ca`] finds it cannot sign certificates.
    pub fn claims_ca(&self) -> bool {
        self.parsed(|c| {
            c.basic_constraints()
                .ok()
                .flatten()
                .is_some_and(|bc| bc.value.ca)
        })
        .unwrap_or(false)
    }

    /// Whether subject and issuer are the same name (a root or a self-signed leaf).
    pub fn is_self_issued(&self) -> bool {
        self.x509
            .subject_name()
            .try_cmp(self.x509.issuer_name())
            .is_ok_and(|o| o.is_eq())
    }

    /// Runs `f` on the x509-parser view of the certificate, for extensions
    /// the openssl crate does not expose.
    pub(crate) fn parsed<T>(
        &self,
        f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
    ) -> Option<T> {
        let der = self.x509.to_der().ok()?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
        Some(f(&cert))
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.x509.to_der().ok() == other.x509.to_der().ok()
    }
}

pub(crate) fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(Into::into),
        16 => <[u8; 16]>::try_from(bytes).ok().map(Into::into),
        _ => None,
    }
}

pub(crate) fn one_line(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_else(|_| "?".to_owned());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn first(mut certs: Vec<Certificate>) -> Result<Certificate> {
    // parse_all never returns an empty list.
    Ok(certs.remove(0))
}

fn parse_all(bytes: &[u8], origin: &Origin) -> Result<Vec<Certificate>> {
    let malformed = |reason: String| Error::Malformed {
        origin: origin.clone(),
        expected: "certificate",
        reason,
    };
    if !pem::looks_like_pem(bytes) {
        return X509::from_der(bytes)
            .map(|x509| vec![Certificate { x509 }])
            .map_err(|_| malformed(pem::neither_reason(bytes)));
    }
    let certs = pem::labelled(
        bytes,
        &["CERTIFICATE", "TRUSTED CERTIFICATE"],
        origin,
        "certificate",
    )?;
    certs
        .iter()
        .map(|b| {
            X509::from_pem(b.text)
                .map(|x509| Certificate { x509 })
                .map_err(|e| malformed(crate::error::openssl_reason(&e)))
        })
        .collect()
}

/// Converts a `SystemTime` to ASN.1, refusing times before 1970 and after
/// [`LATEST_NOT_AFTER_UNIX`]. Every validity time of a certificate or CRL
/// passes through here, so no caller can write one X.509 cannot carry.
pub(crate) fn to_asn1(time: SystemTime) -> Result<Asn1Time> {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Validity {
            reason: "times before 1970 cannot be used".to_owned(),
        })?
        .as_secs();
    if secs > LATEST_NOT_AFTER_UNIX {
        return Err(Error::PastLatestTime { end: time });
    }
    let secs = i64::try_from(secs).map_err(|_| Error::Validity {
        reason: "the time is too far in the future".to_owned(),
    })?;
    Asn1Time::from_unix(secs).context("encode a validity time")
}

pub(crate) fn to_system_time(time: &Asn1TimeRef) -> SystemTime {
    let diff = Asn1Time::from_unix(0).and_then(|epoch| epoch.diff(time));
    match diff {
        Ok(d) => {
            let secs = i64::from(d.days) * 86_400 + i64::from(d.secs);
            if secs >= 0 {
                UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
            } else {
                UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            }
        }
        Err(_) => UNIX_EPOCH,
    }
}

/// Formats a time as `2025-06-11 14:03:00 UTC`, as people read dates in messages.
pub fn format_time(time: SystemTime) -> String {
    let (y, m, d, hh, mm, ss) = utc_parts(time);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

/// Year, month, day, hour, minute, second of a time in UTC.
pub(crate) fn utc_parts(time: SystemTime) -> (i64, u32, u32, i64, i64, i64) {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a (year, month, day) date, after Howard
/// Hinnant's public-domain `civil_from_days` algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_as_people_read_them() {
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_749_650_580);
        assert_eq!(format_time(t), "2025-06-11 14:03:00 UTC");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(format_time(leap), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn times_past_9999_are_refused() -> Result<()> {
        let last = latest_not_after();
        assert_eq!(format_time(last), "9999-12-31 23:59:59 UTC");
        let asn1 = to_asn1(last)?;
        assert_eq!(to_system_time(&asn1), last);
        let err = to_asn1(last + Duration::from_secs(1)).map(|t| t.to_string());
        assert!(matches!(err, Err(Error::PastLatestTime { .. })), "{err:?}");
        Ok(())
    }

    #[test]
    fn asn1_round_trip_keeps_the_second() -> Result<()> {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let asn1 = to_asn1(t)?;
        assert_eq!(to_system_time(&asn1), t);
        Ok(())
    }

    #[test]
    fn params_need_a_name_and_drop_duplicates() -> Result<()> {
        assert!(matches!(
            CertParams::new(Vec::<&str>::new()),
            Err(Error::NoNames)
        ));
        let p = CertParams::new(["localhost", "LOCALHOST", "127.0.0.1"])?;
        assert_eq!(p.names().len(), 2);
        Ok(())
    }
}
