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

pub use crate::cms::SignatureKind;

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

    /// Whether the library may call this signer from a thread of its own — to refresh a
    /// token ahead of its expiry while every caller keeps the valid one — and not only from
    /// the threads that call the library. False unless the signer says so: a host's callback
    /// may need its own threads (a UI thread, a runtime that must be entered first).
    fn any_thread(&self) -> bool {
        false
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
pub(crate) fn signature_bytes(raw: &[u8]) -> Result<Cow<'_, [u8]>> {
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

    /// A command runs the same from any thread.
    fn any_thread(&self) -> bool {
        true
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
mod tests;
