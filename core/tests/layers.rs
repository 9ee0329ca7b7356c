//! The core's layers point one way: no module uses a module of a layer above its own, so there
//! is no cycle among them. Read from the source, so a new `use` that breaks the order fails here.
//!
//! ```text
//! client -> flows -> token -> signer (and cms) -> transport -> config -> error, log
//! ```
//! Inside `token`, the stores sit under the cache: key <- store <- redis <- manager.

use std::path::{Path, PathBuf};

/// The layer of a top-level module; a module may use its own layer and those below.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "error" | "log" => 0,
        "config" => 1,
        "transport" => 2,
        "signer" | "cms" => 3,
        "token" => 4,
        "flows" => 5,
        "client" => 6,
        _ => return None,
    })
}

/// The order of the token layer's own modules.
fn token_rank(module: &str) -> Option<u8> {
    Some(match module {
        "key" => 0,
        "store" => 1,
        "redis" => 2,
        "manager" => 3,
        _ => return None,
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::a::b` paths named in a file's code (not in comments).
fn crate_paths(source: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + "crate::".len()..];
            let mut parts = tail.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let path = parts.next().unwrap_or("");
            let mut names = path.split("::").filter(|s| !s.is_empty());
            if let Some(first) = names.next() {
                found.push((first.to_owned(), names.next().map(str::to_owned)));
            }
            rest = tail;
        }
    }
    found
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let mut components = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy());
        let first = components
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer(&first) else {
            continue; // lib.rs re-exports everything
        };
        let second = components
            .next()
            .map(|s| s.trim_end_matches(".rs").to_string());
        let source = std::fs::read_to_string(file).unwrap();
        for (module, sub) in crate_paths(&source) {
            checked += 1;
            let Some(theirs) = layer(&module) else {
                continue;
            };
            if theirs > own {
                violations.push(format!("{} uses crate::{module}", relative.display()));
            }
            if first == "token" && module == "token" {
                let (Some(mine), Some(other)) = (
                    second.as_deref().and_then(token_rank),
                    sub.as_deref().and_then(token_rank),
                ) else {
                    continue;
                };
                if other > mine {
                    violations.push(format!(
                        "{} uses crate::token::{}",
                        relative.display(),
                        sub.unwrap_or_default()
                    ));
                }
            }
        }
        // `super::x` inside token/ is checked the same way.
        if first == "token" {
            if let Some(mine) = second.as_deref().and_then(token_rank) {
                for line in source.lines() {
                    let code = line.split("//").next().unwrap_or("");
                    for (name, rank) in ["key", "store", "redis", "manager"]
                        .iter()
                        .map(|n| (*n, token_rank(n).unwrap()))
                    {
                        if rank > mine && code.contains(&format!("super::{name}")) {
                            violations.push(format!("{} uses super::{name}", relative.display()));
                        }
                    }
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} crate paths found: the scan is broken"
    );
    assert!(
        violations.is_empty(),
        "layer violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_flows_know_nothing_of_the_client_or_the_network() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/flows");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() >= 5);
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for forbidden in [
            "crate::client",
            "Transport",
            "crate::net",
            "httparse",
            "std::net",
            "thread::sleep",
        ] {
            assert!(
                !source.contains(forbidden),
                "{} mentions {forbidden}",
                file.display()
            );
        }
    }
}
