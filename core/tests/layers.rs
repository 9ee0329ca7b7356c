//! The flows are protocol logic without I/O: no file of `core/src/flows` names the client, the
//! transport, sockets, sleeping, the clock, a random source or the token cache. (The layers of the whole core, and the order inside
//! `token`, are checked on the resolved import graph by `imports.rs`.)

use std::path::{Path, PathBuf};

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
            // The time and random ids are inputs (`Start`, `now_ms`, the `RqUID`).
            "crate::random",
            "SystemTime",
            "now_ms()",
            "crate::token",
        ] {
            assert!(
                !source.contains(forbidden),
                "{} mentions {forbidden}",
                file.display()
            );
        }
    }
}
