//! Dates as users type them for `--not-after`: `2027-06-30` (the end of that
//! day, UTC) or `2027-06-30T12:00:00Z`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses a `--not-after` value.
pub fn parse(input: &str) -> Result<SystemTime, String> {
    let invalid =
        || format!("{input:?} is not a date; write YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
    let (date, time) = match input.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (input, None),
    };
    let mut parts = date.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let number = |s: &str, len: usize| -> Result<i64, String> {
        if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        s.parse().map_err(|_| invalid())
    };
    let (year, month, day) = (number(y, 4)?, number(m, 2)?, number(d, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("{input:?} is not a day of the calendar"));
    }
    let seconds_of_day = match time {
        None => 86_399,
        Some(t) => {
            let t = t.strip_suffix(['Z', 'z']).ok_or_else(|| {
                format!("{input:?} has no time zone; end it with Z (times are UTC)")
            })?;
            let mut hms = t.splitn(3, ':');
            let (Some(h), Some(m), Some(s)) = (hms.next(), hms.next(), hms.next()) else {
                return Err(invalid());
            };
            let (h, m, s) = (number(h, 2)?, number(m, 2)?, number(s, 2)?);
            if h > 23 || m > 59 || s > 59 {
                return Err(invalid());
            }
            h * 3600 + m * 60 + s
        }
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + seconds_of_day;
    let seconds = u64::try_from(seconds)
        .map_err(|_| format!("{input:?} is before 1970; choose a later date"))?;
    Ok(UNIX_EPOCH + Duration::from_secs(seconds))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(input: &str) -> Result<u64, String> {
        parse(input).map(|t| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    #[test]
    fn dates_end_at_the_last_second_of_the_day() {
        assert_eq!(secs("1970-01-01"), Ok(86_399));
        assert_eq!(secs("2000-03-01T00:00:00Z"), Ok(951_868_800));
        assert_eq!(secs("2024-02-29T12:30:00Z"), Ok(1_709_209_800));
    }

    #[test]
    fn bad_dates_say_what_to_write() {
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "24-01-01",
            "tomorrow",
            "2024-01-01T10:00:00",
            "1969-12-31",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
        assert!(
            parse("2024-01-01T10:00:00")
                .unwrap_err()
                .contains("end it with Z")
        );
    }
}
