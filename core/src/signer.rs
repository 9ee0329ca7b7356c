//! Signing: the host's GOST CAdES crypto, reached three ways (a callback, an external command,
//! or the host itself between the two phases of a flow). All three end in
//! [`normalize_signature`], so every flow sends the same clean base64 whatever the signer gave.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::config::CommandConfig;
use crate::error::{Error, Result};

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

/// Turns a signer's output into canonical base64 of a DER/BER CMS structure.
///
/// Accepted: raw DER (or BER with indefinite length, as some CSPs write), base64 with any
/// whitespace or CR/LF (CryptoPro, 1C's `Base64Строка`), PEM with `-----BEGIN ...-----` lines.
/// Anything else is a [`crate::ErrorKind::SignerFailed`], so garbage never reaches a server.
pub fn normalize_signature(raw: &[u8]) -> Result<String> {
    if raw.is_empty() {
        return Err(Error::signer("the signer returned an empty signature"));
    }
    if looks_like_cms(raw) {
        return Ok(STANDARD.encode(raw));
    }
    let text = std::str::from_utf8(raw).map_err(|_| {
        Error::signer("the signer returned neither a DER signature nor base64 text")
    })?;
    let text = text.trim_start_matches('\u{feff}');
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
    let der = LENIENT
        .decode(cleaned.as_bytes())
        .map_err(|_| Error::signer("the signer's output is not valid base64 or DER"))?;
    if !looks_like_cms(&der) {
        return Err(Error::signer(
            "the signer's output decodes from base64 but is not a CMS (DER) structure",
        ));
    }
    Ok(STANDARD.encode(der))
}

/// A DER SEQUENCE whose length covers exactly the input, or a BER indefinite-length one.
fn looks_like_cms(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0x30 {
        return false;
    }
    let first = b[1] as usize;
    if first == 0x80 {
        return b.ends_with(&[0, 0]);
    }
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 || b.len() < 2 + n {
            return false;
        }
        let len = b[2..2 + n]
            .iter()
            .fold(0usize, |acc, x| (acc << 8) | *x as usize);
        (len, 2 + n)
    };
    header + len == b.len()
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
            uuid::Uuid::new_v4().simple()
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
            std::thread::sleep(Duration::from_millis(5));
        };
        let (stdout, stderr) = run.finish();
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

/// A started command with its output being drained on two threads (so a chatty command cannot
/// block on a full pipe). Dropping it kills the command's process group and reaps the command.
struct Running<'a> {
    child: &'a mut std::process::Child,
    started: Instant,
    overflow: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl<'a> Running<'a> {
    fn new(child: &'a mut std::process::Child) -> Running<'a> {
        let overflow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stdout = child.stdout.take().map(|pipe| {
            let overflow = overflow.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe
                    .take(MAX_SIGNER_OUTPUT as u64 + 1)
                    .read_to_end(&mut buf);
                if buf.len() > MAX_SIGNER_OUTPUT {
                    overflow.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                buf
            })
        });
        let stderr = child.stderr.take().map(|pipe| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.take(64 * 1024).read_to_end(&mut buf);
                buf
            })
        });
        Running {
            child,
            started: Instant::now(),
            overflow,
            stdout,
            stderr,
        }
    }

    fn child_status(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    fn output_overflowed(&self) -> bool {
        self.overflow.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Kills what is left of the process group (a shell's children), then collects the output.
    /// The readers end once every holder of the pipes is gone.
    fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        self.kill();
        let stdout = self.stdout.take().and_then(|t| t.join().ok());
        let stderr = self.stderr.take().and_then(|t| t.join().ok());
        (stdout.unwrap_or_default(), stderr.unwrap_or_default())
    }

    fn kill(&mut self) {
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
        if self.stdout.is_some() || self.stderr.is_some() {
            // An early return (timeout, overflow): stop everything; the reader threads end on
            // their own once the killed processes' pipes close.
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

    fn fake_cms() -> Vec<u8> {
        let mut v = vec![0x30, 0x82, 0x01, 0x00];
        v.extend(std::iter::repeat_n(0xAB, 0x100));
        v
    }

    #[test]
    fn der_base64_with_breaks_and_pem_all_normalise_the_same() {
        let der = fake_cms();
        let b64 = STANDARD.encode(&der);
        let broken: String = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n");
        let pem = format!("-----BEGIN CMS-----\n{broken}\n-----END CMS-----\n");
        assert_eq!(normalize_signature(&der).unwrap(), b64);
        assert_eq!(normalize_signature(broken.as_bytes()).unwrap(), b64);
        assert_eq!(normalize_signature(pem.as_bytes()).unwrap(), b64);
        assert_eq!(
            normalize_signature(format!(" {b64} \n").as_bytes()).unwrap(),
            b64
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
        ] {
            let e = normalize_signature(bad).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::SignerFailed, "{bad:?}");
        }
    }

    /// The structure check: a BER/DER SEQUENCE whose length covers exactly what was given.
    #[test]
    fn only_a_whole_sequence_passes_the_structure_check() {
        let der = fake_cms();
        let ok = |b: &[u8]| normalize_signature(b).is_ok();
        let b64 = |b: &[u8]| STANDARD.encode(b);
        assert!(ok(&der));
        // Short form length, and BER with an indefinite length ended by two zero bytes.
        assert!(ok(&[0x30, 0x03, 0x02, 0x01, 0x01]));
        assert!(ok(&[0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00]));
        let mut cut = der.clone();
        cut.pop();
        let mut longer = der.clone();
        longer.push(0);
        let mut not_a_sequence = der.clone();
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
        ] {
            assert!(!ok(&bad), "{what} passed as DER");
            assert!(!ok(b64(&bad).as_bytes()), "{what} passed as base64");
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
    fn long_form_lengths_of_one_to_four_bytes() {
        let seq = |len_bytes: &[u8], content: usize| {
            let mut v = vec![0x30, 0x80 | len_bytes.len() as u8];
            v.extend_from_slice(len_bytes);
            v.extend(std::iter::repeat_n(0x04, content));
            v
        };
        assert!(normalize_signature(&seq(&[0x81], 0x81)).is_ok());
        assert!(normalize_signature(&seq(&[0x01, 0x02], 0x0102)).is_ok());
        assert!(normalize_signature(&seq(&[0x00, 0x01, 0x03], 0x0103)).is_ok());
        assert!(normalize_signature(&seq(&[0x00, 0x00, 0x01, 0x04], 0x0104)).is_ok());
        assert!(
            normalize_signature(&seq(&[0x81], 0x80)).is_err(),
            "one byte short"
        );
        assert!(
            normalize_signature(&seq(&[0x01, 0x02], 0x0103)).is_err(),
            "one byte long"
        );
        // A length field longer than the input.
        assert!(normalize_signature(&[0x30, 0x84, 0x00, 0x00]).is_err());
        // Four bytes exactly: the shortest input that can be a SEQUENCE with content.
        assert!(normalize_signature(&[0x30, 0x02, 0x05, 0x00]).is_ok());
        assert!(normalize_signature(&[0x30, 0x81, 0x01, 0x05]).is_ok());
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
