//! Time as the daemon writes it and as the capture keeps it: Unix
//! nanoseconds, RFC 3339 text (Docker's fixed 9-digit UTC form on the wire),
//! and the `since` query value.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix nanoseconds.
pub fn unix_now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

#[inline]
fn digits(bytes: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + d as u32;
    }
    Some(value)
}

/// `2006-01-02T15:04:05.000000000Z` exactly (30 bytes).
#[inline]
pub(crate) fn parse_fixed(s: &[u8]) -> Option<i64> {
    if s[10] != b'T' || s[19] != b'.' {
        return None;
    }
    let nanos = digits(&s[20..29])?;
    Some(date_time(s)? * 1_000_000_000 + nanos as i64)
}

/// The seconds of `YYYY-MM-DD?hh:mm:ss` at the start of `s` (20+ bytes;
/// the separator between date and time is checked by the caller).
#[inline]
fn date_time(s: &[u8]) -> Option<i64> {
    if s[4] != b'-' || s[7] != b'-' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    civil_seconds(
        digits(&s[0..4])? as i64,
        digits(&s[5..7])?,
        digits(&s[8..10])?,
        digits(&s[11..13])?,
        digits(&s[14..16])?,
        digits(&s[17..19])?,
    )
}

/// Parses RFC 3339 (`Z` or `±hh:mm`, 0 to 9 fraction digits) into Unix ns.
pub fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    if s.len() < 20 || !(s[10] == b'T' || s[10] == b't' || s[10] == b' ') {
        return None;
    }
    let mut secs = date_time(s)?;
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&rest[1..1 + n])? as i64 * 10i64.pow(9 - n as u32);
        rest = &rest[1 + n..];
    }
    match rest {
        [b'Z'] | [b'z'] => {}
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let offset = (digits(&[*h1, *h2])? * 3600 + digits(&[*m1, *m2])? * 60) as i64;
            secs += if *sign == b'+' { -offset } else { offset };
        }
        _ => return None,
    }
    Some(secs * 1_000_000_000 + nanos)
}

/// Seconds since the Unix epoch of a UTC civil time (Howard Hinnant's
/// days-from-civil).
fn civil_seconds(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour as i64 * 3600 + min as i64 * 60 + sec as i64)
}

/// Formats Unix ns as Docker's fixed RFC 3339 form (UTC, 9 digits).
pub fn format_rfc3339(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // civil-from-days
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z", tod / 3600, tod % 3600 / 60, tod % 60)
}

/// Formats Unix ns as the `since` query value: `<sec>.<9 digits>`.
pub fn format_since(ts_ns: i64) -> String {
    let ts_ns = ts_ns.max(0);
    format!("{}.{:09}", ts_ns / 1_000_000_000, ts_ns % 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_timestamp_parses() {
        let ts = parse_fixed(b"2024-01-02T03:04:05.123456789Z").unwrap();
        assert_eq!(ts, 1_704_164_645_123_456_789);
        assert_eq!(format_rfc3339(ts), "2024-01-02T03:04:05.123456789Z");
        assert_eq!(parse_rfc3339(b"2024-01-02T03:04:05.123456789Z"), Some(ts));
        assert_eq!(parse_rfc3339(b"2024-01-02T04:04:05.123456789+01:00"), Some(ts));
        assert_eq!(parse_rfc3339(b"2024-01-02T03:04:05Z"), Some(1_704_164_645_000_000_000));
        assert_eq!(parse_rfc3339(b"1969-12-31T23:59:59.5Z"), Some(-500_000_000));
        assert_eq!(format_rfc3339(-500_000_000), "1969-12-31T23:59:59.500000000Z");
        assert_eq!(parse_rfc3339(b"2024-13-02T03:04:05Z"), None);
        assert_eq!(parse_rfc3339(b"2024-01-02T03:04:05.Z"), None);
    }

    #[test]
    fn since_has_nine_digits() {
        assert_eq!(format_since(1_704_164_645_000_000_007), "1704164645.000000007");
        assert_eq!(format_since(-3), "0.000000000");
    }
}
