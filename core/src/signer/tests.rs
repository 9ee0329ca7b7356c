//! The signers' tests: commands, callbacks and what each may return.

use super::*;

use crate::cms::test_support::{
    cons, signed_data, tlv, GOST_ATTACHED, GOST_ATTACHED_BER, GOST_CERT_PEM, GOST_DETACHED,
};
use crate::ErrorKind;

const ATTACHED: SignatureKind = SignatureKind::Attached;
const DETACHED: SignatureKind = SignatureKind::Detached;

/// Base64 in lines of 64 characters, ended by CR/LF, as CryptoPro writes it.
fn lines_of_64(b64: &str) -> String {
    b64.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = lines_of_64(&STANDARD.encode(der));
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

fn refusal(raw: &[u8], kind: SignatureKind) -> String {
    let e = normalize_signature(raw, kind).expect_err("refused");
    assert_eq!(e.kind, ErrorKind::SignerFailed, "{e}");
    e.message
}

#[test]
fn der_base64_with_breaks_and_pem_all_normalise_the_same() {
    for (der, kind) in [(GOST_ATTACHED, ATTACHED), (GOST_DETACHED, DETACHED)] {
        let b64 = STANDARD.encode(der);
        let broken = lines_of_64(&b64);
        let cms = pem("CMS", der);
        assert_eq!(normalize_signature(der, kind).unwrap(), b64);
        assert_eq!(normalize_signature(broken.as_bytes(), kind).unwrap(), b64);
        assert_eq!(normalize_signature(cms.as_bytes(), kind).unwrap(), b64);
        let with_bom = format!("\u{feff} {b64} \n");
        assert_eq!(normalize_signature(with_bom.as_bytes(), kind).unwrap(), b64);
    }
    // BER stays BER: the server gets what the signer made, only re-encoded as base64.
    assert_eq!(
        normalize_signature(GOST_ATTACHED_BER, ATTACHED).unwrap(),
        STANDARD.encode(GOST_ATTACHED_BER)
    );
}

#[test]
fn debug_never_shows_command_arguments() {
    let signer = command(
        &["cryptcp", "-sign", "-pin", "12345678"],
        &["cryptcp", "-pin", "12345678"],
        1000,
    );
    let shown = format!("{signer:?}");
    assert!(!shown.contains("12345678"), "{shown}");
    assert!(
        shown.contains("cryptcp") && shown.contains("and 3 arguments"),
        "{shown}"
    );
}

#[test]
fn garbage_is_a_signer_error() {
    for bad in [
        &b""[..],
        b"hello world",
        b"\xff\xfe\x00",
        b"aGVsbG8=",
        b"\x30\x05ab",
        b"-----BEGIN CMS-----\n-----END CMS-----\n",
    ] {
        for kind in [ATTACHED, DETACHED] {
            refusal(bad, kind);
        }
    }
    // Binary that does not start like DER is not read as DER.
    assert_eq!(
        refusal(b"\xff\xfe\x00", ATTACHED),
        "the signer returned neither a DER signature nor base64 text"
    );
}

/// The structure check: one whole DER/BER SEQUENCE, not a byte more or less.
#[test]
fn only_a_whole_sequence_passes_the_structure_check() {
    let der = GOST_DETACHED;
    let ok = |b: &[u8]| normalize_signature(b, DETACHED).is_ok();
    let b64 = |b: &[u8]| STANDARD.encode(b);
    assert!(ok(der));
    assert!(ok(b64(der).as_bytes()));
    let mut cut = der.to_vec();
    cut.pop();
    let mut longer = der.to_vec();
    longer.push(0);
    let mut not_a_sequence = der.to_vec();
    not_a_sequence[0] = 0x31;
    for (bad, what) in [
        (cut, "one byte short"),
        (longer, "a byte of trailing garbage"),
        (not_a_sequence, "a SET, not a SEQUENCE"),
        (
            vec![0x30, 0x80, 0x02, 0x01, 0x01],
            "indefinite length never ended",
        ),
        (vec![0x30, 0x85, 0, 0, 0, 0, 1, 0], "a five-byte length"),
        (vec![0x30, 0x80, 0x00], "three bytes"),
        (vec![0x30, 0x02, 0x05], "one byte short, short form"),
        (vec![0x30, 0x03, 0x02, 0x01, 0x01], "a SEQUENCE, but no CMS"),
    ] {
        assert!(!ok(&bad), "{what} passed as DER");
        assert!(!ok(b64(&bad).as_bytes()), "{what} passed as base64");
    }
    // Binary that starts like DER gets the reader's reason, not a base64 complaint.
    let mut cut = der.to_vec();
    cut.truncate(100);
    assert_eq!(
        refusal(&cut, DETACHED),
        "the signer's output is not a well-formed DER/BER structure (truncated)"
    );
}

#[test]
fn long_form_lengths_of_one_to_four_bytes() {
    let inner = {
        let der = signed_data(Some(b"challenge"));
        assert!(der[1] < 0x80, "the builder's ContentInfo is short");
        der[2..].to_vec()
    };
    // The ContentInfo with its length written in `n` octets (BER allows leading zeros).
    let with_length = |n: usize, len: usize| {
        let mut v = vec![0x30, 0x80 | n as u8];
        v.extend_from_slice(&(len as u32).to_be_bytes()[4 - n..]);
        v.extend_from_slice(&inner);
        v
    };
    for n in 1..=4 {
        assert!(
            normalize_signature(&with_length(n, inner.len()), ATTACHED).is_ok(),
            "{n} length octets"
        );
        assert!(
            normalize_signature(&with_length(n, inner.len() + 1), ATTACHED).is_err(),
            "one byte short, {n} length octets"
        );
        assert!(
            normalize_signature(&with_length(n, inner.len() - 1), ATTACHED).is_err(),
            "one byte long, {n} length octets"
        );
    }
    // A length field longer than the input.
    assert!(normalize_signature(&[0x30, 0x84, 0x00, 0x00], ATTACHED).is_err());
    // A long-form length in the contents too: a big attached content.
    let big = signed_data(Some(&[0x41; 70_000]));
    assert!(normalize_signature(&big, ATTACHED).is_ok());
}

#[test]
fn the_kind_must_be_the_one_the_step_needs() {
    let b64 = STANDARD.encode(GOST_ATTACHED);
    assert_eq!(
        refusal(b64.as_bytes(), DETACHED),
        "the signer returned an attached signature where a detached one is needed"
    );
    assert_eq!(
        refusal(&pem("CMS", GOST_DETACHED).into_bytes(), ATTACHED),
        "the signer returned a detached signature where an attached one is needed"
    );
    assert!(refusal(GOST_ATTACHED_BER, DETACHED).contains("an attached signature"));
}

#[test]
fn a_certificate_is_refused_as_der_base64_and_pem() {
    const MESSAGE: &str = "the signer returned a certificate, not a CMS signature";
    let b64: String = GOST_CERT_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(&b64).unwrap();
    for kind in [ATTACHED, DETACHED] {
        assert_eq!(refusal(&der, kind), MESSAGE);
        assert_eq!(refusal(b64.as_bytes(), kind), MESSAGE);
        assert_eq!(refusal(GOST_CERT_PEM.as_bytes(), kind), MESSAGE);
    }
    // From the label alone: a certificate PEM is not decoded at all.
    let broken = "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n";
    assert_eq!(refusal(broken.as_bytes(), ATTACHED), MESSAGE);
}

#[test]
fn a_private_key_is_refused_and_never_repeated() {
    const MESSAGE: &str = "the signer returned a private key, not a CMS signature";
    // PKCS#8 shaped like a GOST key, with 32 bytes that are plainly not one.
    let key = cons(
        0x30,
        &[
            &tlv(0x02, &[0]),
            &cons(
                0x30,
                &[&tlv(
                    0x06,
                    &[0x2A, 0x85, 0x03, 0x07, 0x01, 0x01, 0x01, 0x01],
                )],
            ),
            &tlv(0x04, &[0x11; 32]),
        ],
    );
    let b64 = STANDARD.encode(&key);
    let key_pem = pem("PRIVATE KEY", &key);
    for raw in [&key[..], b64.as_bytes(), key_pem.as_bytes()] {
        for kind in [ATTACHED, DETACHED] {
            let message = refusal(raw, kind);
            assert_eq!(message, MESSAGE);
        }
    }
    // From the label alone, even when the body would not decode; and wherever the key is
    // in the text, even after a good signature.
    let rsa = "-----BEGIN RSA PRIVATE KEY-----\nnot base64\n-----END RSA PRIVATE KEY-----";
    assert_eq!(refusal(rsa.as_bytes(), DETACHED), MESSAGE);
    let both = format!("{}{key_pem}", pem("CMS", GOST_DETACHED));
    assert_eq!(refusal(both.as_bytes(), DETACHED), MESSAGE);
}

#[test]
fn another_cms_type_is_refused() {
    let data = cons(
        0x30,
        &[
            &tlv(
                0x06,
                &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01],
            ),
            &cons(0xA0, &[&tlv(0x04, b"challenge")]),
        ],
    );
    assert_eq!(
        refusal(STANDARD.encode(&data).as_bytes(), ATTACHED),
        "the signer returned a CMS of type 1.2.840.113549.1.7.1 (data), not SignedData"
    );
}

/// Every prefix of a real signature, as DER and as base64, is refused without a panic.
#[test]
fn no_prefix_passes_or_panics() {
    for fixture in [GOST_ATTACHED, GOST_DETACHED, GOST_ATTACHED_BER] {
        let b64 = STANDARD.encode(fixture);
        for kind in [ATTACHED, DETACHED] {
            for end in 0..fixture.len() {
                assert!(normalize_signature(&fixture[..end], kind).is_err(), "{end}");
            }
            for end in 0..b64.len() - 3 {
                assert!(
                    normalize_signature(&b64.as_bytes()[..end], kind).is_err(),
                    "{end}"
                );
            }
        }
    }
}

fn command(attached: &[&str], detached: &[&str], timeout_ms: u64) -> CommandSigner {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    CommandSigner::new(CommandConfig {
        attached: owned(attached),
        detached: owned(detached),
        timeout: Duration::from_millis(timeout_ms),
    })
}

#[test]
fn a_command_reads_stdin_writes_stdout_and_the_kind_picks_its_argv() {
    let c = command(
        &["sh", "-c", "printf A; cat"],
        &["sh", "-c", "printf D; cat"],
        10_000,
    );
    assert_eq!(c.sign(b"xyz", SignatureKind::Attached).unwrap(), b"Axyz");
    assert_eq!(c.sign(b"xyz", SignatureKind::Detached).unwrap(), b"Dxyz");
}

#[test]
fn in_and_out_files_for_tools_that_need_them() {
    let copy = ["sh", "-c", "cp \"$0\" \"$1\"", "{in}", "{out}"];
    let c = command(&copy, &copy, 10_000);
    assert_eq!(
        c.sign(b"data to sign", SignatureKind::Attached).unwrap(),
        b"data to sign"
    );
    // The data file is private to this user, and gone afterwards.
    let mode = [
        "sh",
        "-c",
        "stat -c %a \"$0\" > \"$1\"; echo \"$0\" >> \"$1\"",
        "{in}",
        "{out}",
    ];
    let c = command(&mode, &mode, 10_000);
    let out = String::from_utf8(c.sign(b"x", SignatureKind::Detached).unwrap()).unwrap();
    let (perm, path) = out.split_once('\n').unwrap();
    assert_eq!(perm, "600");
    assert!(
        !std::path::Path::new(path.trim()).exists(),
        "{path} left behind"
    );
    let none = command(&["true", "{out}"], &["true", "{out}"], 10_000);
    let e = none.sign(b"x", SignatureKind::Attached).unwrap_err();
    assert!(
        e.message
            .starts_with("signer command \"true\" wrote no usable {out} file"),
        "{e}"
    );
}

#[test]
fn an_out_file_over_the_bound_is_refused_and_one_at_it_is_read() {
    // `head -c N /dev/zero > {out}`: exactly at the bound, then one byte over it.
    let at = format!("head -c {MAX_SIGNER_OUTPUT} /dev/zero > \"$1\"");
    let over = format!("head -c {} /dev/zero > \"$1\"", MAX_SIGNER_OUTPUT + 1);
    let c = command(
        &["sh", "-c", &at, "{in}", "{out}"],
        &["sh", "-c", &over, "{in}", "{out}"],
        10_000,
    );
    assert_eq!(
        c.sign(b"x", SignatureKind::Attached).unwrap().len(),
        MAX_SIGNER_OUTPUT
    );
    let e = c.sign(b"x", SignatureKind::Detached).unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::SignerFailed);
    assert!(
        e.message
            .ends_with(&format!("it is larger than {MAX_SIGNER_OUTPUT} bytes")),
        "{e}"
    );
}

#[test]
fn a_failing_command_says_why() {
    let fail = ["sh", "-c", "echo; echo 'token PIN required' >&2; exit 3"];
    let e = command(&fail, &fail, 10_000)
        .sign(b"x", SignatureKind::Attached)
        .unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::SignerFailed);
    assert_eq!(
        e.message,
        "signer command \"sh\" failed (exit status: 3): token PIN required"
    );
    let missing = ["/nonexistent/cryptcp"];
    let e = command(&missing, &missing, 10_000)
        .sign(b"x", SignatureKind::Attached)
        .unwrap_err();
    assert!(
        e.message
            .starts_with("cannot start signer command \"/nonexistent/cryptcp\""),
        "{e}"
    );
}

/// Both outputs are read while the command runs: one far over a pipe's buffer on stdout
/// after one over stderr's limit does not block it, and the first bytes of each are kept.
#[cfg(unix)]
#[test]
fn a_chatty_command_is_read_while_it_runs_and_over_the_limit_it_is_stopped() {
    let script = "head -c 50000 /dev/zero | tr '\\0' e >&2; \
                  head -c 300000 /dev/zero | tr '\\0' A; \
                  echo 'bad PIN' >&2; exit 1";
    let argv = ["sh", "-c", script];
    let e = command(&argv, &argv, 20_000)
        .sign(b"x", SignatureKind::Detached)
        .unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::SignerFailed, "{e}");
    assert!(e.message.contains("failed (exit status: 1): eeee"), "{e}");
    let ok = "head -c 300000 /dev/zero | tr '\\0' A; head -c 20000 /dev/zero | tr '\\0' e >&2";
    let argv = ["sh", "-c", ok];
    let out = command(&argv, &argv, 20_000)
        .sign(b"x", SignatureKind::Detached)
        .unwrap();
    assert_eq!(out.len(), 300_000);
    assert!(out.iter().all(|&b| b == b'A'));
    let flood = "head -c 3000000 /dev/zero | tr '\\0' A";
    let argv = ["sh", "-c", flood];
    let started = Instant::now();
    let e = command(&argv, &argv, 20_000)
        .sign(b"x", SignatureKind::Detached)
        .unwrap_err();
    assert!(e.message.contains("printed more than"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_signer_that_cannot_be_interrupted_signs_as_usual_until_a_deadline() {
    let closure = |data: &[u8], _kind: SignatureKind| Ok([b"sig:", data].concat());
    let deadline = Instant::now() + Duration::from_secs(5);
    assert_eq!(
        closure
            .sign_until(b"abc", SignatureKind::Detached, deadline)
            .unwrap(),
        b"sig:abc"
    );
}

#[test]
fn a_command_is_stopped_at_the_calls_deadline_or_its_own_timeout_whichever_is_first() {
    let hang = ["sleep", "5"];
    let signer = command(&hang, &hang, 60_000);
    let started = Instant::now();
    let e = signer
        .sign_until(
            b"x",
            SignatureKind::Attached,
            started + Duration::from_millis(300),
        )
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind, crate::ErrorKind::Timeout, "{e}");
    assert!(e.message.contains("total timeout"), "{e}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // Its own timeout first: a signer failure, as without a deadline.
    let e = command(&hang, &hang, 200)
        .sign_until(
            b"x",
            SignatureKind::Attached,
            Instant::now() + Duration::from_secs(30),
        )
        .unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::SignerFailed, "{e}");
}

/// A process that left the command's group (`setsid`) and keeps its stdout open cannot hold
/// the call: the output is waited for a bounded time after the command exits.
#[cfg(unix)]
#[test]
fn a_process_escaping_the_group_with_the_output_does_not_hold_the_call() {
    // The child has left the group once it has made the marker; only then does the command
    // print and exit (a group kill before the escape would end the child too).
    let marker = std::env::temp_dir().join(format!("suz-escaped-{}", crate::random::uuid()));
    let script = format!(
        "setsid sh -c 'touch {m}; exec sleep 6' & while [ ! -e {m} ]; do sleep 0.01; done; echo signature",
        m = marker.display()
    );
    let argv = ["sh", "-c", script.as_str()];
    let c = command(&argv, &argv, 20_000);
    let started = Instant::now();
    let e = c.sign(b"x", SignatureKind::Detached).unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::SignerFailed, "{e}");
    assert!(e.message.contains("kept its output open"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_file(&marker);
}

#[test]
fn a_command_that_hangs_is_killed_at_its_timeout() {
    let hang = ["sleep", "5"];
    let started = Instant::now();
    let e = command(&hang, &hang, 300)
        .sign(b"x", SignatureKind::Attached)
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        e.message,
        "signer command \"sleep\" did not finish within 300 ms (its `timeout_ms`); it was stopped"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn a_command_from_json() {
    let c = CommandSigner::from_json(r#"{"attached": ["a"], "detached": ["d"]}"#).unwrap();
    assert_eq!(c.config.timeout, Duration::from_millis(60_000));
    assert_eq!(
        (c.config.attached[0].as_str(), c.config.detached[0].as_str()),
        ("a", "d")
    );
    let c = CommandSigner::from_json(r#"{"attached": ["a"], "detached": ["d"], "timeout_ms": 5}"#)
        .unwrap();
    assert_eq!(c.config.timeout, Duration::from_millis(5));
    let e = CommandSigner::from_json(r#"{"attached": ["a"], "detached": ["d"], "timeout": 5}"#)
        .unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::Config);
    assert!(e.message.contains("timeout"), "{e}");
    let e = CommandSigner::from_json(r#"{"attached": [], "detached": ["d"]}"#).unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::Config);
    assert!(CommandSigner::from_json(r#"{"attached": ["a"], "detached": []}"#).is_err());
}

#[test]
fn kinds_and_closures() {
    assert_eq!(SignatureKind::Attached.name(), "attached");
    assert_eq!(SignatureKind::Detached.name(), "detached");
    let echo = |data: &[u8], kind: SignatureKind| -> Result<Vec<u8>> {
        Ok([kind.name().as_bytes(), data].concat())
    };
    assert_eq!(
        echo.sign(b"!", SignatureKind::Detached).unwrap(),
        b"detached!"
    );
}
