//! RFC 3339 stamps of consecutive log lines, parsed reusing what they
//! share: lines written within the same second have the same date, time
//! and zone, and only the fraction differs. Converting the civil time is
//! most of the cost of a stamp, so it is done once a second.

use crate::timestamp::parse_rfc3339;

/// The stamp of the last line whose whole seconds were converted.
#[derive(Debug, Default)]
pub struct Stamps {
    /// `YYYY-MM-DDTHH:MM:SS` of that stamp.
    prefix: [u8; 19],
    /// What follows the fraction: `Z`, or `±hh:mm`.
    zone: [u8; 6],
    zone_len: usize,
    /// Unix ns of `prefix` in `zone`.
    base_ns: i64,
    valid: bool,
}

impl Stamps {
    /// Parses an RFC 3339 stamp into Unix ns, as `timestamp::parse_rfc3339`.
    #[inline]
    pub fn parse(&mut self, s: &[u8]) -> Option<i64> {
        if self.valid && s.len() > 19 && s[..19] == self.prefix {
            if let Some((nanos, zone)) = split_fraction(&s[19..]) {
                if zone == &self.zone[..self.zone_len] {
                    return Some(self.base_ns + nanos);
                }
            }
        }
        self.convert(s)
    }

    #[cold]
    fn convert(&mut self, s: &[u8]) -> Option<i64> {
        let ts = parse_rfc3339(s)?;
        self.valid = false;
        if let Some((nanos, zone)) = s.get(19..).and_then(split_fraction) {
            if zone.len() <= self.zone.len() {
                self.prefix.copy_from_slice(&s[..19]);
                self.zone[..zone.len()].copy_from_slice(zone);
                self.zone_len = zone.len();
                self.base_ns = ts - nanos;
                self.valid = true;
            }
        }
        Some(ts)
    }
}

/// Splits `[.fraction]zone` into the fraction's ns and the zone.
#[inline]
fn split_fraction(rest: &[u8]) -> Option<(i64, &[u8])> {
    let Some(digits) = rest.strip_prefix(b".") else { return Some((0, rest)) };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 9 {
        return None;
    }
    let mut value = 0i64;
    for &d in &digits[..n] {
        value = value * 10 + (d - b'0') as i64;
    }
    Some((value * 10i64.pow(9 - n as u32), &digits[n..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_results_as_the_full_parser() {
        let mut stamps = Stamps::default();
        for s in [
            "2026-11-30T18:45:41.80490426Z",
            "2026-11-30T18:45:41.804904261Z",
            "2026-11-30T18:45:41Z",
            "2026-11-30T18:45:41.5Z",
            "2026-11-30T18:45:41.5+01:00",
            "2026-11-30T18:45:41.123456789+01:00",
            "2026-11-30T18:45:42.1Z",
            "2026-11-30T18:45:42.1",
            "2026-11-30T18:45:42.1Zjunk",
            "2026-11-30T18:45:42.Z",
            "2026-11-30T18:45:42.1234567891Z",
            "2026-11-30T18:45:42x1Z",
        ] {
            assert_eq!(stamps.parse(s.as_bytes()), parse_rfc3339(s.as_bytes()), "{s}");
        }
    }
}
