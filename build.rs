//! Regenerates include/suz_auth.h from src/ with cbindgen. The header is checked in; CI fails
//! when regenerating it changes a byte.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src");
    // The Linux library carries a SONAME, so programs link against the ABI version
    // (`libsuz_auth.so.0`) rather than the file name.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsuz_auth.so.{major}");
    }
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let version = std::env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION");
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    let mut config = cbindgen::Config::from_file(Path::new(&crate_dir).join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    config.after_includes = Some(format!(
        "\n#define SUZ_AUTH_VERSION \"{version}\"\n#define SUZ_AUTH_VERSION_MAJOR {major}\n#define SUZ_AUTH_VERSION_MINOR {minor}\n#define SUZ_AUTH_VERSION_PATCH {patch}"
    ));
    let bindings = cbindgen::Builder::new()
        // Only the C layer is parsed: it is all the header describes, and it keeps cbindgen's
        // parser away from the rest of the crate.
        .with_src(Path::new(&crate_dir).join("src/lib.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate include/suz_auth.h");
    let target = Path::new(&crate_dir).join("include").join("suz_auth.h");
    // write_to_file rewrites the file only when its content changes, so an unchanged header
    // keeps its timestamp and a build never dirties the checkout.
    bindings.write_to_file(target);
}
