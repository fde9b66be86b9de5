//! Taking a certificate back: the CA directory records revoked serials
//! (`openssl ca -revoke`) and the CA signs a certificate revocation list from
//! them (`openssl ca -gencrl`), so a mutual-TLS server can refuse a client
//! whose key leaked or who left.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::bn::BigNum;
use openssl::x509::extension::CrlNumber;
use openssl::x509::{CrlStatus, X509Crl, X509CrlBuilder, X509Revoked};

use crate::ca::Ca;
use crate::cert::Certificate;
use crate::error::{Error, OpenSslContext, Origin, Result};
use crate::fs::{self, DirLock, Overwrite, Secrecy};
use crate::pem;
use crate::time::{to_asn1, to_system_time};

/// File in the CA directory listing revoked serials: one line each,
/// `SERIAL<TAB>UNIX-SECONDS<TAB>REASON`.
pub const REVOKED_FILE: &str = "revoked.txt";
/// File in the CA directory holding the number of the last CRL signed. It
/// is written (and synced) before the CRL files, so a number is spent before
/// anyone can see a CRL carrying it.
pub const CRL_NUMBER_FILE: &str = "crlnumber";
/// The CRL, PEM.
pub const CRL_PEM_FILE: &str = "crl.pem";
/// The CRL, DER.
pub const CRL_DER_FILE: &str = "crl.der";

/// How long a CRL is valid by default: 30 days. A development CA has no
/// scheduler re-signing CRLs, so a week (the public-CA habit) would leave
/// servers refusing every client after a holiday.
pub const DEFAULT_CRL_DAYS: u32 = 30;

/// Why a certificate was revoked (RFC 5280 CRLReason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RevocationReason {
    /// No reason given (written without a reasonCode, as RFC 5280 asks).
    #[default]
    Unspecified,
    /// The certificate's key leaked.
    KeyCompromise,
    /// The CA's key leaked.
    CaCompromise,
    /// The subject's affiliation changed.
    AffiliationChanged,
    /// Replaced by a new certificate.
    Superseded,
    /// No longer needed.
    CessationOfOperation,
    /// Temporarily suspended.
    CertificateHold,
    /// Privilege withdrawn.
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Every reason.
    pub const ALL: [RevocationReason; 8] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The name `openssl ca -crl_reason` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "CACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`RevocationReason::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown revocation reason {0:?}; choose unspecified, keyCompromise, CACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold or privilegeWithdrawn"
)]
pub struct UnknownReason(pub String);

impl FromStr for RevocationReason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, UnknownReason> {
        let wanted = s.to_ascii_lowercase().replace(['-', '_'], "");
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.as_str().to_ascii_lowercase() == wanted)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

/// One revoked serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The serial, uppercase hex as `openssl x509 -serial` prints it.
    pub serial: String,
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// Why.
    pub reason: RevocationReason,
}

/// A signed certificate revocation list.
pub struct Crl {
    crl: X509Crl,
}

impl Crl {
    /// PEM (`-----BEGIN X509 CRL-----`).
    pub fn to_pem(&self) -> Result<Vec<u8>> {
        self.crl.to_pem().context("encode the CRL as PEM")
    }

    /// DER; replaces `openssl crl -outform DER`.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        self.crl.to_der().context("encode the CRL as DER")
    }

    /// Reads a PEM or DER CRL.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        parse(bytes, &Origin::Memory("the CRL"))
    }

    /// Reads a PEM or DER CRL file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        parse(&fs::read(path)?, &Origin::file(path))
    }

    /// The underlying OpenSSL CRL.
    pub fn as_x509_crl(&self) -> &X509Crl {
        &self.crl
    }

    /// The `openssl` CRL, e.g. for [`crate::verify::VerifyParams::crl`].
    pub fn into_x509_crl(self) -> X509Crl {
        self.crl
    }

    /// thisUpdate.
    pub fn this_update(&self) -> SystemTime {
        to_system_time(self.crl.last_update())
    }

    /// nextUpdate.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.crl.next_update().map(to_system_time)
    }

    /// The cRLNumber (`openssl crl -crlnumber`); `None` if the CRL has none,
    /// or one too large for a `u64`.
    pub fn number(&self) -> Option<u64> {
        let (_, number) = self.crl.extension::<CrlNumber>().ok().flatten()?;
        let decimal = number.to_bn().ok()?.to_dec_str().ok()?;
        decimal.parse().ok()
    }

    /// Whether `cert`'s serial is listed.
    pub fn is_revoked(&self, cert: &Certificate) -> bool {
        !matches!(self.crl.get_by_cert(cert.as_x509()), CrlStatus::NotRevoked)
    }

    /// The revoked serials, uppercase hex.
    pub fn revoked_serials(&self) -> Vec<String> {
        self.crl
            .get_revoked()
            .map(|stack| {
                stack
                    .iter()
                    .filter_map(|r| r.serial_number().to_bn().ok())
                    .filter_map(|bn| bn.to_hex_str().ok().map(|s| s.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crl")
            .field("revoked", &self.revoked_serials().len())
            .finish_non_exhaustive()
    }
}

fn parse(bytes: &[u8], origin: &Origin) -> Result<Crl> {
    let malformed = |reason: String| Error::Malformed {
        origin: origin.clone(),
        expected: "CRL",
        reason,
    };
    let crl = if pem::looks_like_pem(bytes) {
        let found = pem::labelled(bytes, &["X509 CRL"], origin, "CRL")?;
        let block = &found[0];
        X509Crl::from_pem(block.text)
    } else {
        X509Crl::from_der(bytes)
    };
    crl.map(|crl| Crl { crl })
        .map_err(|e| malformed(crate::error::openssl_reason(&e)))
}

/// Longest serial number, in octets: RFC 5280 §4.1.2.2 forbids CAs longer
/// ones and asks users to handle up to 20, so a longer one names no
/// certificate (and would only bloat `revoked.txt` and the CRL).
pub const MAX_SERIAL_OCTETS: usize = 20;

/// Normalises a serial typed by a user (`0A:1B…`, `0x0a1b`, `a1b`) to
/// uppercase hex in whole bytes, as `openssl x509 -serial` prints it.
/// Serials over [`MAX_SERIAL_OCTETS`] are refused ([`Error::SerialTooLong`]).
pub fn parse_serial(input: &str) -> Result<String> {
    let cleaned: String = input
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    let bad = || Error::InvalidSerial {
        input: input.to_owned(),
    };
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let bn = BigNum::from_hex_str(&cleaned).map_err(|_| bad())?;
    if bn.num_bits() == 0 {
        return Err(bad());
    }
    let octets = usize::try_from(bn.num_bytes()).unwrap_or(usize::MAX);
    if octets > MAX_SERIAL_OCTETS {
        let shown: String = cleaned.chars().take(16).collect();
        return Err(Error::SerialTooLong {
            shown: format!("{shown}…"),
            octets,
        });
    }
    bn.to_hex_str().map(|s| s.to_string()).map_err(|_| bad())
}

/// Records a revocation in the CA directory; replaces `openssl ca -revoke
/// cert.pem -crl_reason R`. Revoking a serial twice keeps the first record.
pub fn revoke(
    dir: impl AsRef<Path>,
    serial: &str,
    reason: RevocationReason,
    at: SystemTime,
) -> Result<Revocation> {
    let dir = dir.as_ref();
    let serial = parse_serial(serial)?;
    let _lock = DirLock::acquire(dir)?;
    let mut list = revoked(dir)?;
    if let Some(existing) = list.iter().find(|r| r.serial == serial) {
        return Ok(existing.clone());
    }
    let entry = Revocation {
        serial,
        revoked_at: at,
        reason,
    };
    list.push(entry.clone());
    let text: String = list
        .iter()
        .map(|r| {
            let secs = r
                .revoked_at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{}\t{secs}\t{}\n", r.serial, r.reason)
        })
        .collect();
    fs::write_atomic(
        dir.join(REVOKED_FILE),
        text.as_bytes(),
        Secrecy::Public,
        Overwrite::Replace,
    )?;
    Ok(entry)
}

/// The revocations recorded in the CA directory (none if the file is absent).
pub fn revoked(dir: impl AsRef<Path>) -> Result<Vec<Revocation>> {
    let dir = dir.as_ref();
    let path = dir.join(REVOKED_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = String::from_utf8_lossy(&fs::read(&path)?).into_owned();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let bad = |what: &str| Error::Malformed {
                origin: Origin::File(path.clone()),
                expected: "revocation list",
                reason: format!("line {}: {what}", n + 1),
            };
            let mut fields = line.split('\t');
            let serial =
                parse_serial(fields.next().unwrap_or_default()).map_err(|_| bad("bad serial"))?;
            let secs: u64 = fields
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("bad time"))?;
            let reason = fields
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("bad reason"))?;
            Ok(Revocation {
                serial,
                revoked_at: UNIX_EPOCH + Duration::from_secs(secs),
                reason,
            })
        })
        .collect()
}

/// The number in `crlnumber` (0 if the file is absent).
fn recorded_number(path: &Path) -> Result<u64> {
    if !path.exists() {
        return Ok(0);
    }
    String::from_utf8_lossy(&fs::read(path)?)
        .trim()
        .parse()
        .map_err(|_| Error::Malformed {
            origin: Origin::File(path.to_path_buf()),
            expected: "CRL number",
            reason: "it is not a decimal number; put the number of the last CRL in it, or remove it (the next number then follows the CRL files)".to_owned(),
        })
}

/// The number of the CRL published in `path` (0 if absent, or if it has no
/// cRLNumber). One that cannot be read was never accepted by anyone, so its
/// number cannot repeat a published one; it is overwritten. A number too
/// large to count on from (another tool's CRL) is refused, never taken as 0,
/// so the next CRL cannot go backwards.
fn published_number(path: &Path) -> Result<u64> {
    if !path.exists() {
        return Ok(0);
    }
    let Ok(crl) = Crl::read(path) else {
        return Ok(0);
    };
    let has_number = crl
        .as_x509_crl()
        .extension::<CrlNumber>()
        .ok()
        .flatten()
        .is_some();
    match crl.number() {
        Some(number) => Ok(number),
        None if !has_number => Ok(0),
        None => Err(Error::Malformed {
            origin: Origin::File(path.to_path_buf()),
            expected: "CRL number",
            reason: "its cRLNumber is larger than pki can count on from (2^64 - 1), so a new CRL would go backwards; keep publishing with the tool that wrote it, or start a new CA".to_owned(),
        }),
    }
}

impl Ca {
    /// Signs a CRL listing `revoked`, numbered `number`, valid from now
    /// for `valid_for`; replaces `openssl ca -gencrl -crldays N`. A zero
    /// `valid_for` is refused (the CRL would be out of date when written), and
    /// so is an end past 9999 ([`Error::PastLatestTime`]).
    pub fn crl(&self, revoked: &[Revocation], number: u64, valid_for: Duration) -> Result<Crl> {
        if valid_for.is_zero() {
            return Err(Error::Validity {
                reason: "a CRL valid for 0 days is out of date as soon as it is written, and servers checking it refuse every client; give at least 1 day".to_owned(),
            });
        }
        let now = SystemTime::now();
        let end = now.checked_add(valid_for).ok_or_else(|| Error::Validity {
            reason: "the CRL would end past the year 9999, the latest date a CRL can carry; give fewer days".to_owned(),
        })?;
        let (this, next) = (to_asn1(now)?, to_asn1(end)?);
        let mut builder = X509CrlBuilder::new().context("start a CRL")?;
        builder
            .set_issuer_name(self.certificate().as_x509().subject_name())
            .context("set the CRL issuer")?;
        builder.set_last_update(&this).context("set thisUpdate")?;
        builder.set_next_update(&next).context("set nextUpdate")?;
        for r in revoked {
            let serial = BigNum::from_hex_str(&r.serial).context("read a revoked serial")?;
            let code = (r.reason != RevocationReason::Unspecified).then(|| r.reason.code());
            let der = crate::der::revoked_entry(&serial.to_vec(), r.revoked_at, code);
            let entry = X509Revoked::from_der(&der).context("encode a revoked entry")?;
            builder.add_revoked(entry).context("add a revoked entry")?;
        }
        builder.sort().context("sort the CRL")?;
        let skid = self
            .certificate()
            .as_x509()
            .subject_key_id()
            .map(|id| id.as_slice().to_vec())
            .unwrap_or_default();
        builder
            .append_extension(crate::x509::authority_key_id_extension(&skid)?)
            .context("add authorityKeyIdentifier")?;
        let number = BigNum::from_dec_str(&number.to_string()).context("encode the CRL number")?;
        builder
            .append_extension(
                CrlNumber::new(number)
                    .and_then(CrlNumber::build)
                    .context("build cRLNumber")?,
            )
            .context("add cRLNumber")?;
        builder
            .sign(self.key().as_pkey(), self.key().signing_digest())
            .context("sign the CRL")?;
        let crl = builder.build().context("finish the CRL")?;
        Ok(Crl { crl })
    }

    /// Signs a new CRL from the CA directory's revocations, with the next
    /// CRL number, and writes `crl.pem` and `crl.der` there. Returns the CRL
    /// and the path of the PEM file.
    ///
    /// CRL numbers never repeat, even after a crash: the next number follows
    /// the highest of `crlnumber`, `crl.pem` and `crl.der` (a run killed
    /// between the files may have published a number `crlnumber` never
    /// heard of), and `crlnumber` is written and synced before the CRL files,
    /// so a run killed later at worst skips a number.
    pub fn write_crl(&self, dir: impl AsRef<Path>, valid_for: Duration) -> Result<(Crl, PathBuf)> {
        let dir = dir.as_ref();
        let _lock = DirLock::acquire(dir)?;
        let number_path = dir.join(CRL_NUMBER_FILE);
        let pem_path = dir.join(CRL_PEM_FILE);
        let der_path = dir.join(CRL_DER_FILE);
        let last = recorded_number(&number_path)?
            .max(published_number(&pem_path)?)
            .max(published_number(&der_path)?);
        let number = last.checked_add(1).ok_or_else(|| Error::Malformed {
            origin: Origin::File(number_path.clone()),
            expected: "CRL number",
            reason: "the last CRL number is the largest pki can count to; start a new CA"
                .to_owned(),
        })?;
        let crl = self.crl(&revoked(dir)?, number, valid_for)?;
        let (pem, der) = (crl.to_pem()?, crl.to_der()?);
        fs::write_durable(
            &number_path,
            format!("{number}\n").as_bytes(),
            Secrecy::Public,
            Overwrite::Replace,
        )?;
        fs::pause_point("crl-number-written");
        fs::write_atomic(&pem_path, &pem, Secrecy::Public, Overwrite::Replace)?;
        fs::pause_point("crl-pem-written");
        fs::write_atomic(&der_path, &der, Secrecy::Public, Overwrite::Replace)?;
        Ok((crl, pem_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaParams, CertParams, Profile};

    #[test]
    fn revoked_clients_are_listed_and_others_not() -> Result<()> {
        let dir = crate::fs::test_dir()?;
        let ca = Ca::create_in(dir.path(), &CaParams::new(), None)?;
        let params = CertParams::new(["alice@example.test"])?.profile(Profile::Client);
        let alice = ca.issue(&params)?.certificate().clone();
        let bob = ca.issue(&params)?.certificate().clone();
        revoke(
            dir.path(),
            &alice.serial_hex(),
            RevocationReason::KeyCompromise,
            SystemTime::now(),
        )?;
        // Twice is once.
        revoke(
            dir.path(),
            &alice.serial_hex(),
            RevocationReason::Superseded,
            SystemTime::now(),
        )?;
        let list = revoked(dir.path())?;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].reason, RevocationReason::KeyCompromise);

        let (crl, _) = ca.write_crl(dir.path(), Duration::from_secs(86_400))?;
        assert!(crl.is_revoked(&alice));
        assert!(!crl.is_revoked(&bob));
        let (second, _) = ca.write_crl(dir.path(), Duration::from_secs(86_400))?;
        let number = |c: &Crl| {
            c.as_x509_crl()
                .extension::<CrlNumber>()
                .ok()
                .flatten()
                .and_then(|(_, n)| n.to_bn().ok())
                .and_then(|bn| bn.to_dec_str().ok().map(|s| s.to_string()))
        };
        assert_eq!(number(&second).as_deref(), Some("2"));
        assert!(Crl::read(dir.path().join(CRL_DER_FILE))?.is_revoked(&alice));
        Ok(())
    }

    #[test]
    fn crl_numbers_follow_the_highest_published_even_past_crlnumber() -> Result<()> {
        let dir = crate::fs::test_dir()?;
        let ca = Ca::create_in(dir.path(), &CaParams::new(), None)?;
        let week = Duration::from_secs(7 * 86_400);
        let (first, _) = ca.write_crl(dir.path(), week)?;
        assert_eq!(first.number(), Some(1));
        // As a run killed between the files leaves it: crl.pem published
        // number 5 while crlnumber still says 1.
        let ahead = ca.crl(&[], 5, week)?;
        fs::write_atomic(
            dir.path().join(CRL_PEM_FILE),
            &ahead.to_pem()?,
            Secrecy::Public,
            Overwrite::Replace,
        )?;
        let (next, _) = ca.write_crl(dir.path(), week)?;
        assert_eq!(next.number(), Some(6));
        assert_eq!(fs::read(dir.path().join(CRL_NUMBER_FILE))?, b"6\n");
        assert_eq!(Crl::read(dir.path().join(CRL_DER_FILE))?.number(), Some(6));
        // A CRL file nobody can read is no published number.
        fs::write_atomic(
            dir.path().join(CRL_DER_FILE),
            b"not a CRL",
            Secrecy::Public,
            Overwrite::Replace,
        )?;
        assert_eq!(ca.write_crl(dir.path(), week)?.0.number(), Some(7));
        Ok(())
    }

    #[test]
    fn serials_over_20_octets_are_refused() -> Result<()> {
        assert_eq!(parse_serial(&"7F".repeat(20))?, "7F".repeat(20));
        assert_eq!(parse_serial(&format!("00{}", "FF".repeat(20)))?.len(), 40);
        let err = parse_serial(&"ab".repeat(21));
        assert!(
            matches!(err, Err(Error::SerialTooLong { octets: 21, .. })),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn serials_are_normalised_and_checked() -> Result<()> {
        assert_eq!(parse_serial("0a:1B")?, "0A1B");
        assert_eq!(parse_serial("a1b")?, "0A1B");
        assert_eq!(parse_serial("0x00ff")?, "FF");
        assert!(matches!(
            parse_serial("xyz"),
            Err(Error::InvalidSerial { .. })
        ));
        assert!(matches!(
            parse_serial("00"),
            Err(Error::InvalidSerial { .. })
        ));
        Ok(())
    }
}
