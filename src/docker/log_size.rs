//! The size a log driver rotates at, read from the container's log options
//! the way the daemon reads them (go-units `RAMInBytes`: `"2k"`, `"10m"`,
//! `"1.5g"`, `"20MiB"`; binary multiples, a fraction allowed). It is the
//! daemon's notation, not the capturer's configuration's, so it is parsed
//! here and not with `config`'s sizes.

/// `local`'s file size when no `max-size` is given (moby
/// `daemon/logger/local`).
pub const LOCAL_DEFAULT_MAX_SIZE: u64 = 20 * 1024 * 1024;

/// The size at which `driver` starts the next file, from its `max-size`
/// option (`local`'s default without one); 0 when unset or unreadable.
pub fn max_size(driver: &str, max_size_option: Option<&str>) -> u64 {
    match max_size_option {
        Some(text) => parse_daemon_size(text).unwrap_or(0),
        None if driver == "local" => LOCAL_DEFAULT_MAX_SIZE,
        None => 0,
    }
}

/// `<number>[ ][k|m|g|t|p][i][b]`, case-insensitive, binary multiples.
fn parse_daemon_size(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok().filter(|v: &f64| v.is_finite())?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return None,
    };
    let bytes = value * 1024f64.powi(power);
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_files_size_is_its_max_size_or_locals_default() {
        assert_eq!(max_size("json-file", Some("2k")), 2048);
        assert_eq!(max_size("local", Some("10m")), 10 << 20);
        assert_eq!(max_size("json-file", Some("1.5M")), 3 << 19);
        assert_eq!(max_size("json-file", Some("20MiB")), 20 << 20);
        assert_eq!(max_size("json-file", Some("4096")), 4096);
        assert_eq!(max_size("json-file", Some("ten")), 0);
        assert_eq!(max_size("json-file", Some("2x")), 0);
        assert_eq!(max_size("json-file", None), 0);
        assert_eq!(max_size("local", None), LOCAL_DEFAULT_MAX_SIZE);
    }
}
