//! What the README states about how the crates are built and shipped, read from the manifests
//! and the source, so that a change to either that makes the README wrong fails here.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of one `[section]` of a manifest, trimmed, without comments.
fn section(manifest: &str, name: &str) -> Vec<String> {
    let header = format!("[{name}]");
    manifest
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_core_forbids_unsafe_code() {
    assert!(read("src/lib.rs")
        .lines()
        .any(|l| l.trim() == "#![forbid(unsafe_code)]"));
}

#[test]
fn redis_is_on_by_default_and_its_crate_comes_only_with_it() {
    let core = section(&read("Cargo.toml"), "features");
    assert!(
        core.contains(&r#"default = ["redis"]"#.to_owned()),
        "{core:?}"
    );
    assert!(
        core.contains(&r#"redis = ["dep:redis"]"#.to_owned()),
        "{core:?}"
    );
    // Without default features and without an async runtime: the store's own connection.
    let deps = section(&read("Cargo.toml"), "dependencies");
    assert!(
        deps.iter().any(|l| l.starts_with("redis = ")
            && l.contains("default-features = false")
            && l.contains("optional = true")
            && !l.contains("features = [")),
        "{deps:?}"
    );
    let c_library = section(&read("../Cargo.toml"), "features");
    assert!(
        c_library.contains(&r#"default = ["redis"]"#.to_owned()),
        "{c_library:?}"
    );
    assert!(
        c_library.contains(&r#"redis = ["suz-auth-core/redis"]"#.to_owned()),
        "{c_library:?}"
    );
}

#[test]
fn the_c_library_is_shared_and_static_and_ships_with_the_dist_profile() {
    let manifest = read("../Cargo.toml");
    let lib = section(&manifest, "lib");
    assert!(
        lib.iter().any(|l| l.starts_with("crate-type")
            && l.contains("\"cdylib\"")
            && l.contains("\"staticlib\"")),
        "{lib:?}"
    );
    let dist = section(&manifest, "profile.dist");
    for line in [
        r#"inherits = "release""#,
        "lto = true",
        "codegen-units = 1",
        "strip = true",
        r#"opt-level = "s""#,
    ] {
        assert!(dist.contains(&line.to_owned()), "{line} in {dist:?}");
    }
}
