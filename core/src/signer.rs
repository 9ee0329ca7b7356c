//! Signing: the host's GOST CAdES crypto, reached three ways (a callback, an external command,
//! or the host itself between the two phases of a flow). All three end in
//! [`normalize_signature`], so every flow sends the same clean base64 whatever the signer gave.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::config::CommandConfig;
use crate::error::{Error, Result};

mod outputs;

/// Which CMS structure a flow needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureKind {
    /// The signed bytes are inside the CMS (GIS MT and True API challenges).
    Attached,
    /// The CMS carries no content (registration body, MDLP code).
    Detached,
}

impl SignatureKind {
    /// The kind's lowercase name: `attached` or `detached`.
    pub fn name(self) -> &'static str {
        match self {
            SignatureKind::Attached => "attached",
            SignatureKind::Detached => "detached",
        }
    }
}

/// Something that makes GOST CAdES signatures. It returns whatever it has — DER, base64 with
/// line breaks, PEM — and the library normalises it.
pub trait Signer: Send + Sync {
    /// Signs `data` as a CMS of the given kind; the signature may come in any form that
    /// [`normalize_signature`] accepts.
    fn sign(&self, data: &[u8], kind: SignatureKind) -> Result<Vec<u8>>;

    /// [`Signer::sign`], giving up at `deadline` where the signer can be interrupted (a command
    /// is killed; the error is then [`crate::ErrorKind::Timeout`]). The default cannot interrupt
    /// the host's code and simply signs.
    fn sign_until(&self, data: &[u8], kind: SignatureKind, deadline: Instant) -> Result<Vec<u8>> {
        let _ = deadline;
        self.sign(data, kind)
    }
}

impl<F> Signer for F
where
    F: Fn(&[u8], SignatureKind) -> Result<Vec<u8>> + Send + Sync,
{
    fn sign(&self, data: &[u8], kind: SignatureKind) -> Result<Vec<u8>> {
        self(data, kind)
    }
}

/// Turns a signer's output into canonical base64 of a CMS signature of the given `kind`.
///
/// Accepted: raw DER (or BER with indefinite lengths, as some CSPs write), base64 with any
/// whitespace or CR/LF (CryptoPro, 1C's `Base64Строка`), PEM with `-----BEGIN ...-----` lines.
/// Whatever the form, the result must be a CMS `ContentInfo` holding a `SignedData` that
/// carries its content for [`SignatureKind::Attached`] and does not for
/// [`SignatureKind::Detached`]. Anything else — garbage, a certificate, a private key, another
/// CMS type, the other kind — is a [`crate::ErrorKind::SignerFailed`] that says what it was
/// without repeating it, so nothing but a signature reaches a server.
pub fn normalize_signature(raw: &[u8], kind: SignatureKind) -> Result<String> {
    let der = signature_bytes(raw)?;
    crate::cms::check_signature(&der, kind)?;
    Ok(STANDARD.encode(der))
}

/// [`normalize_signature`] for a step that signs `content`, accepting either kind: a detached
/// signature where the step needs an attached one gets `content` embedded (1C's crypto and
/// most CSP tools sign detached; GIS MT and True API want the challenge attached), and an
/// attached one where a detached one is needed has its content removed. Embedded content must
/// be `content`; otherwise, and for anything that is not a signature, the error is a
/// [`crate::ErrorKind::SignerFailed`] that says what was wrong.
pub fn conform_signature(raw: &[u8], kind: SignatureKind, content: &[u8]) -> Result<String> {
    let der = signature_bytes(raw)?;
    Ok(STANDARD.encode(crate::cms::conform(&der, kind, content)?))
}

/// A signer's output as DER/BER bytes, from any of the forms [`normalize_signature`] accepts.
fn signature_bytes(raw: &[u8]) -> Result<Cow<'_, [u8]>> {
    if raw.is_empty() {
        return Err(Error::signer("the signer returned an empty signature"));
    }
    // Binary when it is one whole DER/BER SEQUENCE, or when it starts like one and is no
    // text (a truncated DER signature then gets the reader's reason rather than a base64
    // error).
    let binary = raw.first() == Some(&0x30)
        && (crate::cms::is_one_element(raw) || std::str::from_utf8(raw).is_err());
    Ok(if binary {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(decode_text(raw)?)
    })
}

/// The bytes of base64 or PEM text. A PEM block labelled as a certificate or a private key is
/// refused from its label, before anything is decoded.
fn decode_text(raw: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(raw).map_err(|_| {
        Error::signer("the signer returned neither a DER signature nor base64 text")
    })?;
    let text = text.trim_start_matches('\u{feff}');
    for line in text.lines() {
        let line = line.trim();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        {
            crate::cms::check_pem_label(label)?;
        }
    }
    let cleaned: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("-----"))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect();
    if cleaned.is_empty() {
        return Err(Error::signer("the signer returned an empty signature"));
    }
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT
        .decode(cleaned.as_bytes())
        .map_err(|_| Error::signer("the signer's output is not valid base64 or DER"))
}

/// Runs a command per signature. Data goes to stdin, or to a temporary file named by an `{in}`
/// argument; the signature is read from stdout, or from a file named by an `{out}` argument
/// (for tools such as CryptoPro's `cryptcp` that only work with files).
#[derive(Clone, Debug)]
pub struct CommandSigner {
    config: CommandConfig,
}

impl CommandSigner {
    /// A signer that runs the given command.
    pub fn new(config: CommandConfig) -> Self {
        CommandSigner { config }
    }

    /// A signer from a JSON object `{"attached": [...], "detached": [...], "timeout_ms": n}` (the
    /// form of `signer.command`); `timeout_ms` defaults to 60 000.
    pub fn from_json(json: &str) -> Result<Self> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            attached: Vec<String>,
            detached: Vec<String>,
            timeout_ms: Option<u64>,
        }
        let raw: Raw =
            crate::config::parse_document(json, "signer command", "signer command key ")?;
        if raw.attached.is_empty() || raw.detached.is_empty() {
            return Err(Error::config(
                "signer command: `attached` and `detached` must each be a non-empty argv array",
            ));
        }
        Ok(CommandSigner::new(CommandConfig {
            attached: raw.attached,
            detached: raw.detached,
            timeout: crate::config::millis(raw.timeout_ms, 60_000, "timeout_ms", true)?,
        }))
    }
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!(
            "suz-auth-{}-{}.{tag}",
            std::process::id(),
            crate::random::uuid().simple()
        )))
    }

    /// Writes `data` to a new owner-only file (never an existing file or a symlink) and returns
    /// it open for reading from the start, to serve as the command's stdin.
    fn write_private(&self, data: &[u8]) -> std::io::Result<std::fs::File> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.0)?;
        file.write_all(data)?;
        std::io::Seek::rewind(&mut file)?;
        Ok(file)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Signer for CommandSigner {
    fn sign(&self, data: &[u8], kind: SignatureKind) -> Result<Vec<u8>> {
        self.run(data, kind, None)
    }

    fn sign_until(&self, data: &[u8], kind: SignatureKind, deadline: Instant) -> Result<Vec<u8>> {
        self.run(data, kind, Some(deadline))
    }
}

impl CommandSigner {
    /// Runs the command; it is killed at its own `timeout_ms` or at the call's `deadline`,
    /// whichever comes first.
    ///
    /// What the host is protected from:
    /// - The data reaches the command through a file, never a pipe the library writes to: a
    ///   command that exits without reading cannot raise `SIGPIPE` in the host.
    /// - The command runs in its own process group, and the whole group is killed when the run
    ///   ends, so a shell's children cannot outlive the call or keep its pipes open.
    /// - At most [`MAX_SIGNER_OUTPUT`] bytes of output are read; a command printing more is
    ///   stopped.
    fn run(&self, data: &[u8], kind: SignatureKind, deadline: Option<Instant>) -> Result<Vec<u8>> {
        let argv = match kind {
            SignatureKind::Attached => &self.config.attached,
            SignatureKind::Detached => &self.config.detached,
        };
        let program = &argv[0];
        let input = TempFile::new("in");
        let output = TempFile::new("out");
        let uses_in = argv.iter().any(|a| a.contains("{in}"));
        let uses_out = argv.iter().any(|a| a.contains("{out}"));
        let stdin = input
            .write_private(data)
            .map_err(|e| Error::signer(format!("cannot write the data to sign: {e}")))?;
        let args = argv[1..].iter().map(|a| {
            a.replace("{in}", &input.0.to_string_lossy())
                .replace("{out}", &output.0.to_string_lossy())
        });
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(if uses_in {
                Stdio::null()
            } else {
                Stdio::from(stdin)
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| Error::signer(format!("cannot start signer command {program:?}: {e}")))?;
        let mut run = Running::new(&mut child);
        let mut pause = POLL;
        let status = loop {
            match run.child_status() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(Error::signer(format!("signer command {program:?}: {e}"))),
            }
            if run.output_overflowed() {
                return Err(Error::signer(format!(
                    "signer command {program:?} printed more than {MAX_SIGNER_OUTPUT} bytes; it was stopped"
                )));
            }
            let now = Instant::now();
            let own_limit = run.started + self.config.timeout;
            if deadline.is_some_and(|d| now >= d && d < own_limit) {
                return Err(Error::new(
                    crate::ErrorKind::Timeout,
                    format!(
                        "the call's total timeout ran out while signer command {program:?} was running; it was stopped"
                    ),
                ));
            }
            if now >= own_limit {
                return Err(Error::signer(format!(
                    "signer command {program:?} did not finish within {} ms (its `timeout_ms`); it was stopped",
                    self.config.timeout.as_millis()
                )));
            }
            // A command's output ends when it exits: that wakes the wait at once, and the
            // exit is then looked for at short, growing intervals.
            pause = if run.output_ended(pause) {
                Duration::from_micros(100)
            } else {
                (pause * 2).min(POLL)
            };
        };
        let (stdout, stderr) = run.finish();
        let Some(stdout) = stdout else {
            return Err(Error::signer(format!(
                "signer command {program:?} exited, but a process it started outside its process group kept its output open for {} ms; nothing was read",
                OUTPUT_GRACE.as_millis()
            )));
        };
        if stdout.len() > MAX_SIGNER_OUTPUT {
            return Err(Error::signer(format!(
                "signer command {program:?} printed more than {MAX_SIGNER_OUTPUT} bytes"
            )));
        }
        if !status.success() {
            let detail: String = String::from_utf8_lossy(&stderr)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(3)
                .map(|l| l.chars().take(200).collect::<String>())
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(Error::signer(format!(
                "signer command {program:?} failed ({status}){}",
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            )));
        }
        if uses_out {
            read_bounded_file(&output.0).map_err(|e| {
                Error::signer(format!(
                    "signer command {program:?} wrote no usable {{out}} file: {e}"
                ))
            })
        } else {
            Ok(stdout)
        }
    }
}

/// Largest signature a command may print or write (a CAdES-BES with its certificate is a few
/// KiB); the callback path has the same bound.
pub const MAX_SIGNER_OUTPUT: usize = 1024 * 1024;

/// The longest a running command goes unchecked (its limits, an exit that kept no output
/// open); its output ending wakes the wait earlier.
const POLL: Duration = Duration::from_millis(5);

/// A started command with its output being read (see [`outputs`]). Dropping it kills the
/// command's process group and reaps the command.
struct Running<'a> {
    child: &'a mut std::process::Child,
    started: Instant,
    outputs: outputs::Outputs,
}

/// How long the output may take to arrive once the command has exited and its process group is
/// killed. Only a process that left the group (`setsid`) and kept the pipe open can make it
/// run out.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

impl<'a> Running<'a> {
    fn new(child: &'a mut std::process::Child) -> Running<'a> {
        let outputs = outputs::Outputs::new(child, MAX_SIGNER_OUTPUT + 1);
        Running {
            child,
            started: Instant::now(),
            outputs,
        }
    }

    /// Waits `pause`, or less if one of the outputs ends meanwhile; whether one did.
    fn output_ended(&mut self, pause: Duration) -> bool {
        self.outputs.wait(pause)
    }

    fn child_status(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    fn output_overflowed(&self) -> bool {
        self.outputs.overflowed()
    }

    /// Kills what is left of the process group (a shell's children), then collects the output,
    /// waiting at most [`OUTPUT_GRACE`] for it. `None` for stdout when a process that escaped
    /// the group still holds it open.
    fn finish(mut self) -> (Option<Vec<u8>>, Vec<u8>) {
        self.kill();
        self.outputs.collect(Instant::now() + OUTPUT_GRACE)
    }

    fn kill(&mut self) {
        // The group's id is the command's pid. On the normal path the command was reaped just
        // before; its pid could only name another group after the kernel had handed out every
        // other pid in between, so the group kill cannot reach a stranger.
        #[cfg(unix)]
        {
            let group = rustix::process::Pid::from_child(self.child);
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.outputs.open() {
            // An early return (timeout, overflow): stop everything.
            self.kill();
        }
    }
}

/// Reads a file a signer wrote, refusing anything over [`MAX_SIGNER_OUTPUT`].
fn read_bounded_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SIGNER_OUTPUT as u64 + 1)
        .read_to_end(&mut buf)?;
    if buf.len() > MAX_SIGNER_OUTPUT {
        return Err(std::io::Error::other(format!(
            "it is larger than {MAX_SIGNER_OUTPUT} bytes"
        )));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
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
        let c =
            CommandSigner::from_json(r#"{"attached": ["a"], "detached": ["d"], "timeout_ms": 5}"#)
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
}
