//! Time as certificates and messages need it: the validity window every
//! certificate and CRL passes through (`to_asn1` refuses what X.509
//! cannot carry), the small backdating that spares a machine with a slow
//! clock, and dates written as people read them. One home, so `cert`,
//! `ca`, `crl` and `inspect` never reach into each other for a date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Time, Asn1TimeRef};

use crate::error::{Error, OpenSslContext, Result};

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

/// Now, less [`BACKDATE`]: the default start of validity.
pub(crate) fn default_not_before() -> SystemTime {
    SystemTime::now() - BACKDATE
}

/// A number of days as a duration.
pub(crate) fn days_to_duration(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 86_400)
}

/// Converts a `SystemTime` to ASN.1, refusing times before 1970 and after
/// [`LATEST_NOT_AFTER_UNIX`]. Every validity time of a certificate or CRL
/// passes through here, so no caller can write one X.509 cannot carry.
pub(crate) fn to_asn1(time: SystemTime) -> Result<Asn1Time> {
    Asn1Time::from_unix(encodable_secs(time)?).context("encode a validity time")
}

/// Seconds since 1970 of a time X.509 can carry (see [`to_asn1`]), for
/// the encoders that write validity as DER themselves.
pub(crate) fn encodable_secs(time: SystemTime) -> Result<i64> {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Validity {
            reason: "times before 1970 cannot be used".to_owned(),
        })?
        .as_secs();
    if secs > LATEST_NOT_AFTER_UNIX {
        return Err(Error::PastLatestTime { end: time });
    }
    i64::try_from(secs).map_err(|_| Error::Validity {
        reason: "the time is too far in the future".to_owned(),
    })
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

/// Formats a time as RFC 3339 in UTC (`2025-06-11T14:03:00Z`), as protocols
/// (ACME's `expires`, ARI's windows) write it.
pub fn format_rfc3339(time: SystemTime) -> String {
    let (y, m, d, hh, mm, ss) = utc_parts(time);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
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
        assert_eq!(format_rfc3339(t), "2025-06-11T14:03:00Z");
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
}
