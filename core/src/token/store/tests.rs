//! The file store's unit tests.

use super::*;
use crate::token::Flow;

fn temp_store() -> FileStore {
    let dir = std::env::temp_dir().join(format!("suz-store-unit-{}", crate::random::uuid()));
    FileStore::open(&dir).unwrap()
}

#[test]
fn round_trip_and_permissions() {
    let store = temp_store();
    let token = Token::new("abc".repeat(10), Flow::Gismt, 1, 2);
    store.write("k", "suz:test", &token).unwrap();
    assert_eq!(store.read("k", "suz:test"), Some(token));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(store.show(&token_name("k")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn corrupt_truncated_and_foreign_files_are_misses() {
    let store = temp_store();
    let token = Token::new("value".into(), Flow::Mdlp, 1, 2);
    store.write("k", "l", &token).unwrap();
    let full = fs::read(store.show(&token_name("k"))).unwrap();
    for bad in [
        full[..full.len() / 2].to_vec(),
        b"\0\0\0".to_vec(),
        String::from_utf8_lossy(&full)
            .replace("\"version\":1", "\"version\":99")
            .into_bytes(),
        Vec::new(),
    ] {
        fs::write(store.show(&token_name("k")), bad).unwrap();
        assert_eq!(store.read("k", "l"), None);
    }
}

#[test]
fn a_stored_value_no_server_could_give_is_a_miss() {
    let store = temp_store();
    for bad in ["a\\r\\nX-Injected: 1", "a b", "", "a\\u0000b"] {
        let json = format!(
            r#"{{"version":1,"label":"l","flow":"gismt","value":"{bad}","obtained_at_ms":1,"expires_at_ms":2}}"#
        );
        fs::write(store.show(&token_name("k")), json).unwrap();
        assert_eq!(store.read("k", "l"), None, "{bad:?}");
    }
}

/// A record is replaced by a new file renamed over it, never rewritten in place: a reader
/// that opened the old one reads it whole, and no temporary file is left.
#[cfg(unix)]
#[test]
fn a_replaced_record_is_a_new_file_renamed_into_place() {
    use std::os::unix::fs::MetadataExt;
    let store = temp_store();
    let first = Token::new("first-value".into(), Flow::Gismt, 1, 2);
    store.write("k", "l", &first).unwrap();
    let path = store.show(&token_name("k"));
    let reader = File::open(&path).unwrap();
    let before = fs::metadata(&path).unwrap().ino();
    store
        .write(
            "k",
            "l",
            &Token::new("second-value".into(), Flow::Gismt, 1, 2),
        )
        .unwrap();
    assert_ne!(fs::metadata(&path).unwrap().ino(), before);
    let mut old = String::new();
    (&reader).read_to_string(&mut old).unwrap();
    assert!(old.contains("first-value"), "{old}");
    assert_eq!(store.read("k", "l").unwrap().value(), "second-value");
    let left: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_planted_record_is_checked_like_an_answer() {
    let store = temp_store();
    let now = crate::token::now_ms();
    let write = |label: &str, obtained: i64, expires: i64| {
        let json = format!(
            r#"{{"version":1,"label":"{label}","flow":"gismt","value":"planted","obtained_at_ms":{obtained},"expires_at_ms":{expires}}}"#
        );
        fs::write(store.show(&token_name("k")), json).unwrap();
        store.read("k", "suz:mine")
    };
    assert!(write("suz:mine", now, now + 3_600_000).is_some());
    assert!(
        write("suz:theirs", now, now + 3_600_000).is_none(),
        "another key's label"
    );
    assert!(
        write("suz:mine", now, i64::MAX).is_none(),
        "an endless life"
    );
    assert!(write("suz:mine", now, now).is_none(), "no life at all");
    assert!(
        write("suz:mine", now + 3_600_000, now + 7_200_000).is_none(),
        "obtained in the future"
    );
}

#[test]
fn compare_and_remove() {
    let store = temp_store();
    store
        .write("k", "l", &Token::new("new".into(), Flow::Mdlp, 1, 2))
        .unwrap();
    assert!(!store.remove_if("k", "old").unwrap());
    assert!(store.read("k", "l").is_some());
    assert!(store.remove_if("k", "new").unwrap());
    assert!(store.read("k", "l").is_none());
}
