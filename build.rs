//! Regenerates include/suz_auth.h from src/ with cbindgen. The header is checked in; CI fails
//! when regenerating it changes a byte.

use std::path::Path;

/// Reads `core/src/flow_table.in` (the core's one list of flows) as `(variant, C number, doc
/// attributes)`, the service and kind columns aside.
macro_rules! flows {
    ($($(#[$doc:meta])* $flow:ident => $name:literal, $code:literal, $service:ident, $kind:ident;)+) => {
        vec![$((stringify!($flow), $code as u32, vec![$(stringify!($doc)),*]),)+]
    };
}

/// `SuzFlow`, the C enum of the flows, written from the core's table into `out`: the C layer
/// includes it, and cbindgen reads it for the header.
fn write_suz_flow(out: &Path) {
    let mut table: Vec<(&str, u32, Vec<&str>)> = include!("core/src/flow_table.in");
    table.sort_by_key(|(_, code, _)| *code);
    let mut rust = String::from(
        "/// The flow that minted a token: the core's `Flow`, numbered by `Flow::code`.\n\
         #[repr(u32)]\n\
         #[derive(Clone, Copy, Debug, PartialEq, Eq)]\n\
         pub enum SuzFlow {\n",
    );
    for (flow, code, docs) in table {
        for doc in docs {
            rust.push_str(&format!("    #[{doc}]\n"));
        }
        rust.push_str(&format!("    {flow} = {code},\n"));
    }
    rust.push_str("}\n");
    // Rewritten only when it changes, so an unchanged table rebuilds nothing.
    if std::fs::read_to_string(out).ok().as_deref() != Some(rust.as_str()) {
        std::fs::write(out, rust).expect("OUT_DIR is writable");
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    // The Linux library carries a SONAME, so programs link against the ABI version
    // (`libsuz_auth.so.0`) rather than the file name.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsuz_auth.so.{major}");
    }
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=core/src/flow_table.in");
    let suz_flow = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("suz_flow.rs");
    write_suz_flow(&suz_flow);
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
        // `SuzFlow`, which src/flows.rs includes from here.
        .with_src(&suz_flow)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate include/suz_auth.h");
    let target = Path::new(&crate_dir).join("include").join("suz_auth.h");
    // write_to_file rewrites the file only when its content changes, so an unchanged header
    // keeps its timestamp and a build never dirties the checkout.
    bindings.write_to_file(target);
}
