//! What the check accepts and refuses, with the reason it gives.

use super::test_support::*;
use super::*;
use crate::ErrorKind;

fn refusal(der: &[u8], kind: SignatureKind) -> String {
    let e = check_signature(der, kind).expect_err("refused");
    assert_eq!(e.kind, ErrorKind::SignerFailed, "{e}");
    e.message
}

/// A fake key for shape tests: 32 bytes that are plainly not a key.
const FAKE_KEY: [u8; 32] = [0x11; 32];

fn pkcs8_gost_key() -> Vec<u8> {
    let params = cons(
        0x30,
        &[
            &tlv(0x06, &[0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01]),
            &tlv(0x06, GOST_DIGEST),
        ],
    );
    cons(
        0x30,
        &[
            &tlv(0x02, &[0]),
            &cons(0x30, &[&tlv(0x06, GOST_KEY), &params]),
            &tlv(0x04, &FAKE_KEY),
        ],
    )
}

#[test]
fn real_gost_signatures_of_the_right_kind_pass() {
    check_signature(GOST_ATTACHED, SignatureKind::Attached).unwrap();
    check_signature(GOST_DETACHED, SignatureKind::Detached).unwrap();
    check_signature(&signed_data(Some(b"hi")), SignatureKind::Attached).unwrap();
    check_signature(&signed_data(None), SignatureKind::Detached).unwrap();
    // An attached signature over empty content still carries its (empty) content.
    check_signature(&signed_data(Some(b"")), SignatureKind::Attached).unwrap();
}

#[test]
fn ber_with_indefinite_lengths_passes() {
    assert_eq!(&GOST_ATTACHED_BER[..2], &[0x30, 0x80], "the fixture is BER");
    check_signature(GOST_ATTACHED_BER, SignatureKind::Attached).unwrap();
    assert!(refusal(GOST_ATTACHED_BER, SignatureKind::Detached).contains("an attached"));
    let detached = indefinite(GOST_DETACHED);
    assert_eq!(&detached[..2], &[0x30, 0x80]);
    check_signature(&detached, SignatureKind::Detached).unwrap();
    let attached = indefinite(GOST_ATTACHED);
    check_signature(&attached, SignatureKind::Attached).unwrap();
    // The certificates inside, re-encoded as BER too, are still just skipped over.
    assert!(attached.len() > GOST_ATTACHED.len());
}

#[test]
fn a_constructed_octet_string_as_attached_content_passes() {
    let segments = cons(
        0x24,
        &[&tlv(0x04, b"AB"), &cons(0x24, &[&tlv(0x04, b"CD")])],
    );
    let good = signed_data_with(Some(&segments));
    check_signature(&good, SignatureKind::Attached).unwrap();
    // Segments must themselves be OCTET STRINGs.
    let bad = signed_data_with(Some(&cons(0x24, &[&tlv(0x02, &[1])])));
    assert!(refusal(&bad, SignatureKind::Attached).contains("malformed CMS SignedData"));
}

#[test]
fn the_wrong_kind_is_refused_each_way() {
    assert_eq!(
        refusal(GOST_DETACHED, SignatureKind::Attached),
        "the signer returned a detached signature where an attached one is needed"
    );
    assert_eq!(
        refusal(GOST_ATTACHED, SignatureKind::Detached),
        "the signer returned an attached signature where a detached one is needed"
    );
    assert!(refusal(&signed_data(None), SignatureKind::Attached).contains("a detached"));
    assert!(refusal(&signed_data(Some(b"x")), SignatureKind::Detached).contains("an attached"));
}

#[test]
fn a_certificate_is_named() {
    let cert = gost_cert_der();
    for kind in [SignatureKind::Attached, SignatureKind::Detached] {
        assert_eq!(refusal(&cert, kind), CERTIFICATE);
    }
    assert_eq!(
        check_pem_label("CERTIFICATE").unwrap_err().message,
        CERTIFICATE
    );
    assert!(check_pem_label("X509 CERTIFICATE").is_err());
    assert!(check_pem_label("TRUSTED CERTIFICATE").is_err());
    // A version 1 certificate: no [0] version in tbsCertificate.
    let name = cons(0x30, &[]);
    let algorithm = cons(0x30, &[&tlv(0x06, GOST_KEY)]);
    let tbs = cons(
        0x30,
        &[&tlv(0x02, &[7]), &algorithm, &name, &cons(0x30, &[]), &name],
    );
    let v1 = cons(0x30, &[&tbs, &algorithm, &tlv(0x03, &[0, 1, 2])]);
    assert_eq!(refusal(&v1, SignatureKind::Attached), CERTIFICATE);
    // A CRL has the same outer shape; its fourth tbs field is a time, not a validity.
    let crl_tbs = cons(
        0x30,
        &[&tlv(0x02, &[1]), &algorithm, &name, &tlv(0x17, b"x")],
    );
    let crl = cons(0x30, &[&crl_tbs, &algorithm, &tlv(0x03, &[0])]);
    assert!(refusal(&crl, SignatureKind::Attached).contains("not a CMS signature (ContentInfo)"));
}

#[test]
fn a_private_key_is_named() {
    assert_eq!(
        refusal(&pkcs8_gost_key(), SignatureKind::Detached),
        PRIVATE_KEY
    );
    // PKCS#1 RSA: nine INTEGERs.
    let ints: Vec<Vec<u8>> = (0..9u8).map(|i| tlv(0x02, &[i])).collect();
    let parts: Vec<&[u8]> = ints.iter().map(Vec::as_slice).collect();
    assert_eq!(
        refusal(&cons(0x30, &parts), SignatureKind::Attached),
        PRIVATE_KEY
    );
    // SEC1 EC: version 1, the key, [0] parameters, [1] public key.
    let sec1 = cons(
        0x30,
        &[
            &tlv(0x02, &[1]),
            &tlv(0x04, &FAKE_KEY),
            &cons(0xA0, &[&tlv(0x06, GOST_KEY)]),
        ],
    );
    assert_eq!(refusal(&sec1, SignatureKind::Attached), PRIVATE_KEY);
    let bare_sec1 = cons(0x30, &[&tlv(0x02, &[1]), &tlv(0x04, &FAKE_KEY)]);
    assert_eq!(refusal(&bare_sec1, SignatureKind::Attached), PRIVATE_KEY);
    for label in [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        " private key ",
    ] {
        assert_eq!(
            check_pem_label(label).unwrap_err().message,
            PRIVATE_KEY,
            "{label}"
        );
    }
    for label in [
        "CMS",
        "PKCS7",
        "SIGNED MESSAGE",
        "PUBLIC KEY",
        "CERTIFICATE REQUEST",
    ] {
        assert!(check_pem_label(label).is_ok(), "{label}");
    }
}

/// Near misses of the key and certificate shapes are neither: only the generic refusal.
#[test]
fn near_misses_are_not_named_keys_or_certificates() {
    let generic = NotASignature::NotContentInfo.to_string();
    let int = |v: u8| tlv(0x02, &[v]);
    let octets = tlv(0x04, &FAKE_KEY);
    let algorithm = cons(0x30, &[&tlv(0x06, GOST_KEY)]);
    let no_oid = cons(0x30, &[&int(1)]);
    let nine_ints: Vec<Vec<u8>> = (0..9).map(int).collect();
    let mut eight_and_a_null: Vec<&[u8]> = nine_ints.iter().map(Vec::as_slice).collect();
    let null = tlv(0x05, &[]);
    eight_and_a_null[8] = &null;
    let tbs = cons(0x30, &[&cons(0xA0, &[&int(2)]), &int(1)]);
    for (parts, what) in [
        (
            vec![&int(5)[..], &algorithm, &octets],
            "PKCS#8 with version 5",
        ),
        (
            vec![&tlv(0x0A, &[0]), &algorithm, &octets],
            "PKCS#8 with an ENUMERATED version",
        ),
        (
            vec![&tlv(0x02, &[0, 0]), &algorithm, &octets],
            "PKCS#8 with a two-octet version",
        ),
        (
            vec![&int(0), &algorithm, &int(7)],
            "PKCS#8 whose key is no OCTET STRING",
        ),
        (
            vec![&int(0), &cons(0x31, &[&tlv(0x06, GOST_KEY)]), &octets],
            "a SET algorithm",
        ),
        (
            vec![&int(0), &no_oid, &octets],
            "an algorithm without an OID",
        ),
        (
            nine_ints[..8].iter().map(Vec::as_slice).collect(),
            "eight INTEGERs",
        ),
        (eight_and_a_null, "nine elements, one not an INTEGER"),
        (vec![&int(0), &octets, &null], "SEC1 with version 0"),
        (vec![&int(1), &int(7)], "SEC1 whose key is no OCTET STRING"),
        (vec![&int(0), &octets], "SEC1 with version 0, bare"),
        (
            vec![&tbs, &algorithm, &octets],
            "a certificate signed with an OCTET STRING",
        ),
        (
            vec![&tbs, &int(1), &tlv(0x03, &[0])],
            "a certificate with an INTEGER algorithm",
        ),
        (
            vec![&int(1), &algorithm, &tlv(0x03, &[0])],
            "a certificate with an INTEGER tbs",
        ),
        (
            vec![
                &cons(0x30, &[&int(1), &no_oid, &algorithm, &algorithm])[..],
                &algorithm,
                &tlv(0x03, &[0]),
            ],
            "a v1 certificate whose signature algorithm has no OID",
        ),
    ] {
        assert_eq!(
            refusal(&cons(0x30, &parts), SignatureKind::Attached),
            generic,
            "{what}"
        );
    }
}

#[test]
fn another_cms_type_is_named_by_its_oid() {
    let data = content_info(ID_DATA, &tlv(0x04, b"hello"));
    assert_eq!(
        refusal(&data, SignatureKind::Attached),
        "the signer returned a CMS of type 1.2.840.113549.1.7.1 (data), not SignedData"
    );
    let enveloped_oid = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x03];
    let enveloped = content_info(&enveloped_oid, &cons(0x30, &[]));
    assert!(refusal(&enveloped, SignatureKind::Detached)
        .contains("1.2.840.113549.1.7.3 (envelopedData)"));
    // PKCS#7 allows a ContentInfo without content.
    let bare = cons(0x30, &[&tlv(0x06, ID_DATA)]);
    assert!(refusal(&bare, SignatureKind::Attached).contains("(data)"));
    let unknown = content_info(&[0x2A, 0x03, 0x04], &tlv(0x05, &[]));
    assert!(refusal(&unknown, SignatureKind::Attached).contains("of type 1.2.3.4, not"));
    let long = content_info(&[0x81; 40], &tlv(0x05, &[]));
    assert!(refusal(&long, SignatureKind::Attached).contains("a CMS of an unreadable content type"));
    // At most 32 octets are shown.
    let arcs = |n: usize| [&[0x2A][..], &vec![0x01; n - 1]].concat();
    assert_eq!(dotted(&arcs(32)), Some(format!("1.2{}", ".1".repeat(31))));
    assert_eq!(dotted(&arcs(33)), None);
    assert_eq!(dotted(&[]), None);
    assert_eq!(dotted(&[0x81]), None, "an arc that never ends");
    assert_eq!(
        dotted(&[[0xFF; 10].as_slice(), &[0x7F]].concat()),
        None,
        "an arc too large"
    );
    assert_eq!(dotted(&[0x88, 0x37, 0x03]).as_deref(), Some("2.999.3"));
    assert_eq!(dotted(&[0x00]).as_deref(), Some("0.0"));
    // An AlgorithmIdentifier also starts with an OID, but is no ContentInfo.
    let algorithm = cons(0x30, &[&tlv(0x06, GOST_KEY), &tlv(0x05, &[])]);
    assert!(refusal(&algorithm, SignatureKind::Attached).contains("not a CMS signature"));
}

#[test]
fn a_signed_data_without_signer_or_with_missing_parts_is_refused() {
    let certs_only = {
        let encap = cons(0x30, &[&tlv(0x06, ID_DATA)]);
        let signed = cons(
            0x30,
            &[
                &tlv(0x02, &[1]),
                &cons(0x31, &[]),
                &encap,
                &cons(0xA0, &[]),
                &cons(0x31, &[]),
            ],
        );
        content_info(ID_SIGNED_DATA, &signed)
    };
    assert!(refusal(&certs_only, SignatureKind::Detached).contains("no signer"));
    for (signed, why) in [
        (cons(0x31, &[]), "the content is not a SEQUENCE"),
        (cons(0x30, &[]), "no version"),
        (cons(0x30, &[&tlv(0x02, &[1])]), "no digestAlgorithms"),
        (
            cons(0x30, &[&tlv(0x02, &[1]), &cons(0x31, &[])]),
            "no encapContentInfo",
        ),
        (
            cons(
                0x30,
                &[
                    &tlv(0x02, &[1]),
                    &cons(0x31, &[]),
                    &cons(0x30, &[&tlv(0x06, ID_DATA)]),
                ],
            ),
            "no signerInfos",
        ),
        (
            cons(
                0x30,
                &[
                    &tlv(0x02, &[1]),
                    &cons(0x31, &[]),
                    &cons(
                        0x30,
                        &[&tlv(0x06, ID_DATA), &cons(0xA0, &[&tlv(0x02, &[1])])],
                    ),
                    &cons(0x31, &[&cons(0x30, &[])]),
                ],
            ),
            "an eContent that is not an OCTET STRING",
        ),
    ] {
        let der = content_info(ID_SIGNED_DATA, &signed);
        assert_eq!(
            refusal(&der, SignatureKind::Attached),
            format!("the signer returned a malformed CMS SignedData ({why})")
        );
    }
    let no_content = cons(0x30, &[&tlv(0x06, ID_SIGNED_DATA)]);
    assert!(refusal(&no_content, SignatureKind::Detached).contains("(no content)"));
}

#[test]
fn malformed_input_is_refused_with_a_reason() {
    for (input, why) in [
        (&[][..], "truncated"),
        (&[0x30, 0x03, 0x02, 0x01], "truncated"),
        (&[0x30, 0x00, 0x00], "bytes after the end of the structure"),
        (
            &[0x30, 0x80, 0x02, 0x01, 0x01],
            "an indefinite length never ended",
        ),
        (
            &[0x04, 0x80, 0x00, 0x00],
            "an indefinite length on a primitive element",
        ),
        (
            &[0x30, 0x85, 0, 0, 0, 0, 1, 0],
            "a length of more than four octets",
        ),
        (&[0x30, 0xFF], "a length of more than four octets"),
        (
            &[0x30, 0x02, 0x00, 0x00],
            "an end-of-contents where an element was expected",
        ),
        (
            &[0x1F, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00],
            "a tag number too large",
        ),
        (&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF], "truncated"),
    ] {
        let e = check_signature(input, SignatureKind::Attached).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SignerFailed);
        assert_eq!(
            e.message,
            format!("the signer's output is not a well-formed DER/BER structure ({why})"),
            "{input:02x?}"
        );
    }
    // Not a SEQUENCE at all, but well-formed.
    assert!(refusal(&[0x02, 0x01, 0x01], SignatureKind::Attached).contains("not a CMS signature"));
    // A high tag number that fits is read.
    assert!(is_one_element(&[0x1F, 0x81, 0x01, 0x00]));
}

#[test]
fn identifiers_and_lengths_are_read() {
    let read_tag = |b: &[u8]| tag(&mut &b[..]);
    assert_eq!(read_tag(&[0x30]), Ok(SEQUENCE));
    assert_eq!(read_tag(&[0xA1]), Ok(Tag::context(1)));
    let application = Tag {
        class: Class::Application,
        constructed: false,
        number: 2,
    };
    assert_eq!(read_tag(&[0x42]), Ok(application));
    let private = Tag {
        class: Class::Private,
        constructed: true,
        number: 3,
    };
    assert_eq!(read_tag(&[0xE3]), Ok(private));
    assert_eq!(
        read_tag(&[0x1F, 0x81, 0x01]),
        Ok(Tag::universal(129, false))
    );
    assert_eq!(
        read_tag(&[0x3F, 0xFF, 0xFF, 0xFF, 0x7F]),
        Ok(Tag::universal(0x0FFF_FFFF, true))
    );
    assert_eq!(read_tag(&[0x1F, 0x81]), Err(Malformed("truncated")));

    let read_length = |b: &[u8]| {
        length(&mut &b[..]).map(|l| match l {
            Length::Definite(n) => Some(n),
            Length::Indefinite => None,
        })
    };
    assert_eq!(read_length(&[0x05]), Ok(Some(5)));
    assert_eq!(read_length(&[0x7F]), Ok(Some(0x7F)));
    assert_eq!(read_length(&[0x80]), Ok(None));
    assert_eq!(read_length(&[0x81, 0x80]), Ok(Some(0x80)));
    assert_eq!(read_length(&[0x82, 0x01, 0x02]), Ok(Some(0x0102)));
    assert_eq!(
        read_length(&[0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
        Ok(Some(0xFFFF_FFFF))
    );
    assert_eq!(read_length(&[0x82, 0x01]), Err(Malformed("truncated")));
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend_from_slice(&[0x30, 0x80]);
    }
    for _ in 0..100_000 {
        deep.extend_from_slice(&[0, 0]);
    }
    assert!(refusal(&deep, SignatureKind::Attached).contains("nested too deeply"));
    // Right at the limit is fine.
    let mut ok = Vec::new();
    for _ in 0..=MAX_DEPTH {
        ok.extend_from_slice(&[0x30, 0x80]);
    }
    for _ in 0..=MAX_DEPTH {
        ok.extend_from_slice(&[0, 0]);
    }
    assert!(is_one_element(&ok));
    ok.splice(0..0, [0x30, 0x80]);
    ok.extend_from_slice(&[0, 0]);
    assert!(!is_one_element(&ok));
    // Constructed OCTET STRINGs nested deeply inside eContent.
    let mut octets = vec![0x04, 0x00];
    for _ in 0..200 {
        octets = cons(0x24, &[&octets]);
    }
    let e = check_signature(&signed_data_with(Some(&octets)), SignatureKind::Attached).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
}

/// Every prefix, and every single-byte corruption, of real signatures: an error or a pass,
/// never a panic; and no proper prefix passes.
#[test]
fn no_input_panics() {
    for fixture in [GOST_ATTACHED, GOST_DETACHED, GOST_ATTACHED_BER] {
        for end in 0..fixture.len() {
            for kind in [SignatureKind::Attached, SignatureKind::Detached] {
                assert!(
                    check_signature(&fixture[..end], kind).is_err(),
                    "prefix {end}"
                );
            }
        }
        let mut corrupt = fixture.to_vec();
        for at in 0..fixture.len() {
            for value in [0x00, 0x01, 0x7F, 0x80, 0x84, 0xFF] {
                corrupt[at] = value;
                let _ = check_signature(&corrupt, SignatureKind::Attached);
            }
            corrupt[at] = fixture[at];
        }
    }
    // Pseudo-random garbage (a fixed linear congruential sequence).
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..20_000 {
        let len = (state % 64) as usize;
        let mut input = Vec::with_capacity(len);
        for _ in 0..len {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            input.push((state >> 56) as u8);
        }
        if let Some(first) = input.first_mut() {
            *first = 0x30;
        }
        let _ = check_signature(&input, SignatureKind::Detached);
    }
}
