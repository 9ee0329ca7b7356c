//! Conversion between attached and detached signatures.

use super::test_support::*;
use super::*;

const CONTENT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZABCD";

/// The embedded content of a signature the check accepts as attached.
fn embedded(der: &[u8]) -> Option<Vec<u8>> {
    signed_parts(der).unwrap().e_content
}

/// `openssl cms -verify` (GOST engine) on `der`; `None` when OpenSSL's GOST engine is not
/// there. Checks the signature itself, not the certificate chain.
fn openssl_verifies(der: &[u8], detached_content: Option<&[u8]>) -> Option<bool> {
    let dir = std::env::temp_dir().join(format!("suz-cms-{}", crate::random::uuid().simple()));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("sig.der"), der).ok()?;
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["cms", "-verify", "-engine", "gost", "-binary", "-noverify"])
        .args(["-inform", "DER", "-in"])
        .arg(dir.join("sig.der"))
        .args(["-out"])
        .arg(dir.join("out"));
    if let Some(content) = detached_content {
        std::fs::write(dir.join("content"), content).ok()?;
        cmd.arg("-content").arg(dir.join("content"));
    }
    let out = cmd.output().ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    if stderr.contains("Invalid engine")
        || (stderr.contains("engine") && !out.status.success() && !stderr.contains("Verification"))
    {
        return None;
    }
    Some(out.status.success())
}

#[test]
fn a_detached_signature_gets_the_content_and_stays_valid() {
    let attached = conform(GOST_DETACHED, SignatureKind::Attached, CONTENT).unwrap();
    assert!(check_signature(&attached, SignatureKind::Attached).is_ok());
    assert_eq!(embedded(&attached).as_deref(), Some(CONTENT));
    if let Some(ok) = openssl_verifies(&attached, None) {
        assert!(ok, "OpenSSL refuses the converted signature");
    }
    // The other way: an attached one (DER or BER) loses its content, still valid.
    for given in [GOST_ATTACHED, GOST_ATTACHED_BER] {
        let detached = conform(given, SignatureKind::Detached, CONTENT).unwrap();
        assert!(check_signature(&detached, SignatureKind::Detached).is_ok());
        assert_eq!(embedded(&detached), None);
        if let Some(ok) = openssl_verifies(&detached, Some(CONTENT)) {
            assert!(ok, "OpenSSL refuses the stripped signature");
        }
    }
    // What already fits is passed through untouched.
    assert_eq!(
        conform(GOST_ATTACHED_BER, SignatureKind::Attached, CONTENT).unwrap(),
        GOST_ATTACHED_BER
    );
    assert_eq!(
        conform(GOST_DETACHED, SignatureKind::Detached, CONTENT).unwrap(),
        GOST_DETACHED
    );
}

#[test]
fn embedded_content_must_be_the_bytes_to_sign() {
    for (given, kind) in [
        (GOST_ATTACHED, SignatureKind::Attached),
        (GOST_ATTACHED_BER, SignatureKind::Attached),
        (GOST_ATTACHED, SignatureKind::Detached),
    ] {
        let e = conform(given, kind, b"another challenge").unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::SignerFailed);
        assert!(e.message.contains("other content"), "{e}");
        assert!(!e.message.contains("ABCD"), "the content is not shown: {e}");
    }
}

#[test]
fn non_signatures_are_refused_as_by_the_check() {
    let cert = gost_cert_der();
    let e = conform(&cert, SignatureKind::Attached, CONTENT).unwrap_err();
    assert!(e.message.contains("certificate"), "{e}");
    let data = content_info(ID_DATA, &tlv(0x04, CONTENT));
    let e = conform(&data, SignatureKind::Attached, CONTENT).unwrap_err();
    assert!(e.message.contains("(data)"), "{e}");
    for cut in 0..GOST_DETACHED.len() {
        assert!(conform(&GOST_DETACHED[..cut], SignatureKind::Attached, CONTENT).is_err());
    }
}

#[test]
fn encode_uses_the_shortest_length() {
    assert_eq!(encode(0x04, b"hi"), [0x04, 0x02, b'h', b'i']);
    let long = vec![0u8; 300];
    assert_eq!(&encode(0x04, &long)[..4], &[0x04, 0x82, 0x01, 0x2C]);
    let mid = vec![0u8; 200];
    assert_eq!(&encode(0x04, &mid)[..3], &[0x04, 0x81, 200]);
}
