//! Signature checks with the `openssl` command line: attached CMS whose content must be the
//! challenge, detached CMS over the exact body or code, GOST R 34.10-2012 through the GOST
//! engine when it is installed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;

/// Why a signature was refused: the HTTP status to answer and the message.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

/// Whether `openssl` with the GOST engine is usable here.
pub fn gost_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("openssl")
            .args(["engine", "-t", "gost"])
            .output()
            .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("available"))
            .unwrap_or(false)
    })
}

struct Temp(PathBuf);

impl Temp {
    fn with(data: &[u8], tag: &str) -> std::io::Result<Temp> {
        let path = std::env::temp_dir().join(format!(
            "suz-emulator-{}-{}.{tag}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, data)?;
        Ok(Temp(path))
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn openssl(args: &[&std::ffi::OsStr]) -> std::io::Result<std::process::Output> {
    let mut cmd = Command::new("openssl");
    cmd.arg("cms");
    cmd.args(args);
    if gost_available() {
        cmd.args(["-engine", "gost"]);
    }
    cmd.output()
}

/// `openssl cms -verify` of `sig` (no chain check: test certificates are self-signed), over
/// `content` for a detached signature; the embedded content, if any, goes to `out`.
fn verify_with(
    sig: &std::path::Path,
    content: Option<&std::path::Path>,
    out: &std::path::Path,
) -> Result<std::process::Output, Refusal> {
    let mut args: Vec<&std::ffi::OsStr> =
        ["-verify", "-inform", "DER", "-noverify", "-binary", "-in"]
            .iter()
            .map(|a| a.as_ref())
            .collect();
    args.push(sig.as_os_str());
    if let Some(content) = content {
        args.push("-content".as_ref());
        args.push(content.as_os_str());
    }
    args.push("-out".as_ref());
    args.push(out.as_os_str());
    openssl(&args).map_err(|e| refuse(500, format!("cannot run openssl: {e}")))
}

/// A verified signature: whether it was GOST R 34.10-2012.
pub struct Verified {
    pub gost: bool,
}

/// Verifies base64 `signature` over `expected`: attached (the CMS must contain exactly
/// `expected`) or detached (the CMS must carry no content and verify over `expected`).
pub fn verify(
    signature_b64: &str,
    expected: &[u8],
    attached: bool,
    require_gost: bool,
) -> Result<Verified, Refusal> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.as_bytes())
        .map_err(|_| refuse(400, "the signature is not valid base64"))?;
    if der.first() != Some(&0x30) {
        return Err(refuse(400, "the signature is not a CMS (DER) structure"));
    }
    let sig = Temp::with(&der, "p7s").map_err(|e| refuse(500, e.to_string()))?;
    let content_out = Temp(sig.0.with_extension("out"));
    let verify_embedded = verify_with(&sig.0, None, &content_out.0)?;
    let stderr = String::from_utf8_lossy(&verify_embedded.stderr).to_string();
    if verify_embedded.status.success() {
        // The CMS carries its content: an attached signature.
        if !attached {
            return Err(refuse(401, "attached signature where detached is required"));
        }
        let content = std::fs::read(&content_out.0).unwrap_or_default();
        if content != expected {
            return Err(refuse(
                401,
                "the signature covers other content than the challenge",
            ));
        }
    } else if stderr.contains("no content") {
        if attached {
            return Err(refuse(401, "detached signature where attached is required"));
        }
        let data = Temp::with(expected, "dat").map_err(|e| refuse(500, e.to_string()))?;
        let detached = verify_with(&sig.0, Some(&data.0), &content_out.0)?;
        if !detached.status.success() {
            return Err(refuse(
                401,
                "the signature does not verify over the signed data",
            ));
        }
    } else if stderr.contains("verification failure") || stderr.contains("verify error") {
        return Err(refuse(401, "the signature does not verify"));
    } else {
        return Err(refuse(400, "the signature is not a valid CMS SignedData"));
    }
    let gost = is_gost(&sig.0);
    if require_gost && !gost {
        return Err(refuse(401, "not a GOST R 34.10-2012 signature"));
    }
    Ok(Verified { gost })
}

/// Whether the signer's key is GOST R 34.10-2012 (256 or 512 bit).
fn is_gost(sig: &std::path::Path) -> bool {
    let printed = openssl(&[
        "-cmsout".as_ref(),
        "-print".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        sig.as_os_str(),
    ]);
    match printed {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            text.contains("1.2.643.7.1.1.1.1") || text.contains("1.2.643.7.1.1.1.2")
        }
        Err(_) => false,
    }
}
