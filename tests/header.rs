//! The checked-in C header must be exactly what cbindgen (pinned) makes of
//! src/ffi/. `make header` (LOG_CAPTURER_BLESS=1) rewrites it.

#[test]
fn checked_in_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/log_capturer.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/log_capturer.h");
    if std::env::var_os("LOG_CAPTURER_BLESS").is_some() {
        std::fs::write(path, generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/log_capturer.h is out of date with src/ffi/: run `make header` and commit it"
    );
}
