//! Generates the C header from src/ffi/ into $OUT_DIR/log_capturer.h with
//! the pinned cbindgen. The checked-in include/log_capturer.h must equal it
//! (`tests/header.rs` compares them); `make header` copies it over.
//!
//! It also gives the shared library its SONAME, `liblog_capturer.so.MAJOR`
//! with MAJOR from Cargo.toml's version, so programs linked against it
//! load the installed `liblog_capturer.so.MAJOR` (`make install` lays out
//! the versioned file and its links; `make build` adds the SONAME link
//! next to the cargo build for programs run from the checkout).

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("log_capturer.h");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblog_capturer.so.{major}");
    }
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    match cbindgen::Builder::new().with_src(crate_dir.join("src/ffi/mod.rs")).with_config(config).generate() {
        Ok(bindings) => {
            bindings.write_to_file(&out);
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}
