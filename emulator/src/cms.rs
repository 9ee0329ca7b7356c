//! Signature checks. The CMS structure (attached or detached, the algorithms, the signer's
//! certificate) is read here; the cryptographic check runs the `openssl` command line once,
//! GOST R 34.10-2012 through the GOST engine when it is installed.

use std::path::{Path, PathBuf};
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

const GOST_KEYS: [&str; 2] = ["1.2.643.7.1.1.1.1", "1.2.643.7.1.1.1.2"];
const GOST_DIGESTS: [&str; 2] = ["1.2.643.7.1.1.2.2", "1.2.643.7.1.1.2.3"];
const GOST_SIGNATURES: [&str; 2] = ["1.2.643.7.1.1.3.2", "1.2.643.7.1.1.3.3"];
/// INN (12 digits; a legal entity's 10 digits padded with "00") and INNLE (10 digits).
const OID_INN: &str = "1.2.643.3.131.1.1";
const OID_INNLE: &str = "1.2.643.100.4";
const OID_EMAIL: &str = "1.2.840.113549.1.9.1";
const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";

// ---------------------------------------------------------------------------------------------
// BER, as much as CMS needs: low tag numbers, definite and indefinite lengths.

struct Tlv<'a> {
    tag: u8,
    /// The whole element, header included (for certificates: what the thumbprint hashes).
    raw: &'a [u8],
    /// The contents (without an indefinite length's end-of-contents).
    content: &'a [u8],
}

fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *input.get(1)?;
    let (header, length) = match first {
        0x80 => (2, None),
        n if n < 0x80 => (2, Some(n as usize)),
        n => {
            let count = (n & 0x7f) as usize;
            if count > 4 {
                return None;
            }
            let bytes = input.get(2..2 + count)?;
            let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (2 + count, Some(len))
        }
    };
    match length {
        Some(len) => {
            let end = header.checked_add(len)?;
            let content = input.get(header..end)?;
            Some((
                Tlv {
                    tag,
                    raw: &input[..end],
                    content,
                },
                &input[end..],
            ))
        }
        None => {
            if tag & 0x20 == 0 {
                return None;
            }
            // Children until the end-of-contents octets.
            let mut rest = &input[header..];
            loop {
                if rest.starts_with(&[0, 0]) {
                    let used = input.len() - rest.len();
                    return Some((
                        Tlv {
                            tag,
                            raw: &input[..used + 2],
                            content: &input[header..used],
                        },
                        &rest[2..],
                    ));
                }
                let (_, after) = read_tlv(rest)?;
                rest = after;
            }
        }
    }
}

fn children<'a>(tlv: &Tlv<'a>) -> Option<Vec<Tlv<'a>>> {
    let mut out = Vec::new();
    let mut rest = tlv.content;
    while !rest.is_empty() {
        let (child, after) = read_tlv(rest)?;
        out.push(child);
        rest = after;
    }
    Some(out)
}

fn oid(tlv: &Tlv) -> Option<String> {
    if tlv.tag != 0x06 || tlv.content.is_empty() {
        return None;
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for b in tlv.content {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// The OID of an AlgorithmIdentifier.
fn algorithm(tlv: &Tlv) -> Option<String> {
    oid(children(tlv)?.first()?)
}

/// The bytes of an OCTET STRING, primitive or (BER) constructed.
fn octets(tlv: &Tlv) -> Option<Vec<u8>> {
    match tlv.tag {
        0x04 => Some(tlv.content.to_vec()),
        0x24 => {
            let mut out = Vec::new();
            for c in children(tlv)? {
                out.extend(octets(&c)?);
            }
            Some(out)
        }
        _ => None,
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let n = bytes.iter().take_while(|b| **b == 0).count();
    &bytes[n.min(bytes.len().saturating_sub(1))..]
}

// ---------------------------------------------------------------------------------------------
// The structure of a signature

/// The signer's certificate, as far as the services look at it.
#[derive(Clone, Debug, Default)]
pub struct Signer {
    /// Serial number in decimal (what MDLP calls the certificate's serial).
    pub serial: String,
    /// SHA-1 over the certificate, lower-case hex (the "thumbprint").
    pub thumbprint: String,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub key_algorithm: String,
    /// INN / INNLE of the subject, as written in the certificate.
    pub inns: Vec<String>,
    pub emails: Vec<String>,
}

impl Signer {
    /// Whether the certificate names `inn` (10 or 12 digits); a legal entity's 10-digit INN
    /// is also written as 12 digits with a leading "00".
    pub fn has_inn(&self, inn: &str) -> bool {
        self.inns
            .iter()
            .any(|i| i == inn || i.strip_prefix("00") == Some(inn))
    }

    /// The INN of the certificate's owner, normalised to 10 or 12 digits.
    pub fn owner_inn(&self) -> Option<String> {
        self.inns.first().map(|i| match i.strip_prefix("00") {
            Some(rest) if rest.len() == 10 => rest.to_owned(),
            _ => i.clone(),
        })
    }
}

struct Parsed {
    /// The content carried inside (attached), if any.
    content: Option<Vec<u8>>,
    digest_algorithm: String,
    signature_algorithm: String,
    signer: Option<Signer>,
}

fn parse(der: &[u8]) -> Option<Parsed> {
    let (info, _) = read_tlv(der)?;
    let info = children(&info)?;
    if oid(info.first()?)? != OID_SIGNED_DATA || info.get(1)?.tag != 0xa0 {
        return None;
    }
    let signed = children(info.get(1)?)?;
    let signed = children(signed.first()?)?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos
    let encap = children(signed.get(2)?)?;
    let content = match encap.get(1) {
        Some(c) if c.tag == 0xa0 => Some(octets(children(c)?.first()?)?),
        _ => None,
    };
    let certificates: Vec<&Tlv> = signed.iter().skip(3).filter(|t| t.tag == 0xa0).collect();
    let signer_infos = signed.last()?;
    if signer_infos.tag != 0x31 {
        return None;
    }
    let signer_info = children(signer_infos)?;
    let signer_info = children(signer_info.first()?)?;
    let sid = signer_info.get(1)?;
    let digest_algorithm = algorithm(signer_info.get(2)?)?;
    let signature_algorithm = signer_info
        .iter()
        .skip(3)
        .find(|t| t.tag == 0x30)
        .and_then(algorithm)?;
    let mut signer = None;
    for set in certificates {
        for cert in children(set)? {
            if let Some(found) = signer_if_matches(&cert, sid) {
                signer = Some(found);
            }
        }
    }
    Some(Parsed {
        content,
        digest_algorithm,
        signature_algorithm,
        signer,
    })
}

/// The certificate's description when it is the one `sid` names (issuer and serial, or the
/// subject key identifier).
fn signer_if_matches(cert: &Tlv, sid: &Tlv) -> Option<Signer> {
    use x509_parser::extensions::ParsedExtension;
    let (_, x509) = x509_parser::parse_x509_certificate(cert.raw).ok()?;
    let matches = match sid.tag {
        0x30 => {
            let parts = children(sid)?;
            let (issuer, serial) = (parts.first()?, parts.get(1)?);
            issuer.raw == x509.issuer().as_raw()
                && strip_zeros(serial.content) == strip_zeros(x509.raw_serial())
        }
        0x80 => x509.extensions().iter().any(|e| {
            matches!(e.parsed_extension(), ParsedExtension::SubjectKeyIdentifier(k) if k.0 == sid.content)
        }),
        _ => false,
    };
    if !matches {
        return None;
    }
    let mut inns = Vec::new();
    let mut emails = Vec::new();
    for attr in x509.subject().iter_attributes() {
        let id = attr.attr_type().to_id_string();
        let text = String::from_utf8_lossy(attr.as_slice()).into_owned();
        if id == OID_INN || id == OID_INNLE {
            inns.push(text);
        } else if id == OID_EMAIL {
            emails.push(text);
        }
    }
    let thumbprint = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.raw)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(Signer {
        serial: x509.tbs_certificate.serial.to_string(),
        thumbprint,
        not_before_ms: x509.validity().not_before.timestamp() * 1000,
        not_after_ms: x509.validity().not_after.timestamp() * 1000,
        key_algorithm: x509.public_key().algorithm.algorithm.to_id_string(),
        inns,
        emails,
    })
}

// ---------------------------------------------------------------------------------------------
// Verification

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

/// `openssl cms -verify` of `sig` (no chain check: test certificates are self-signed), over
/// `content` for a detached signature; the embedded content, if any, goes to `out`.
fn openssl_verify(
    sig: &Path,
    content: Option<&Path>,
    out: &Path,
) -> Result<std::process::Output, Refusal> {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-noverify",
        "-binary",
        "-in",
    ])
    .arg(sig);
    if let Some(content) = content {
        cmd.arg("-content").arg(content);
    }
    cmd.arg("-out").arg(out);
    if gost_available() {
        cmd.args(["-engine", "gost"]);
    }
    cmd.output()
        .map_err(|e| refuse(500, format!("cannot run openssl: {e}")))
}

/// What the checks allow.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Only GOST R 34.10-2012: the signer's key, the digest and the signature algorithm.
    pub require_gost: bool,
    /// Accept a signer certificate outside its validity period.
    pub allow_expired: bool,
}

/// A verified signature.
#[derive(Debug)]
pub struct Verified {
    pub gost: bool,
    pub signer: Signer,
}

/// Verifies base64 `signature` over `expected`: attached (the CMS must contain exactly
/// `expected`) or detached (the CMS must carry no content and verify over `expected`).
pub fn verify(
    signature_b64: &str,
    expected: &[u8],
    attached: bool,
    policy: Policy,
    now_ms: u64,
) -> Result<Verified, Refusal> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.as_bytes())
        .map_err(|_| refuse(400, "the signature is not valid base64"))?;
    if der.first() != Some(&0x30) {
        return Err(refuse(400, "the signature is not a CMS (DER) structure"));
    }
    let parsed =
        parse(&der).ok_or_else(|| refuse(400, "the signature is not a valid CMS SignedData"))?;
    match (&parsed.content, attached) {
        (Some(_), false) => {
            return Err(refuse(401, "attached signature where detached is required"))
        }
        (None, true) => return Err(refuse(401, "detached signature where attached is required")),
        _ => {}
    }
    let signer = parsed.signer.ok_or_else(|| {
        refuse(
            401,
            "the signer's certificate is not in the signature (it must be included)",
        )
    })?;
    let gost_key = GOST_KEYS.contains(&signer.key_algorithm.as_str());
    let gost_digest = GOST_DIGESTS.contains(&parsed.digest_algorithm.as_str());
    let gost_signature = GOST_KEYS.contains(&parsed.signature_algorithm.as_str())
        || GOST_SIGNATURES.contains(&parsed.signature_algorithm.as_str());
    let gost = gost_key && gost_digest && gost_signature;
    if policy.require_gost && !gost {
        return Err(refuse(401, "not a GOST R 34.10-2012 signature"));
    }
    if (gost_key || gost_digest || gost_signature) && !gost_available() {
        return Err(refuse(
            500,
            "a GOST R 34.10-2012 signature, but OpenSSL's GOST engine is not installed where the \
             emulator runs (Debian: libengine-gost-openssl), so it cannot be checked",
        ));
    }
    let now = now_ms as i64;
    if !policy.allow_expired {
        if now > signer.not_after_ms {
            return Err(refuse(401, "the signer's certificate has expired"));
        }
        if now < signer.not_before_ms {
            return Err(refuse(401, "the signer's certificate is not valid yet"));
        }
    }
    let sig = Temp::with(&der, "p7s").map_err(|e| refuse(500, e.to_string()))?;
    let out = Temp(sig.0.with_extension("out"));
    if attached {
        let result = openssl_verify(&sig.0, None, &out.0)?;
        if !result.status.success() {
            return Err(refuse(401, "the signature does not verify"));
        }
        if parsed.content.as_deref() != Some(expected) {
            return Err(refuse(
                401,
                "the signature covers other content than the challenge",
            ));
        }
    } else {
        let data = Temp::with(expected, "dat").map_err(|e| refuse(500, e.to_string()))?;
        let result = openssl_verify(&sig.0, Some(&data.0), &out.0)?;
        if !result.status.success() {
            return Err(refuse(
                401,
                "the signature does not verify over the signed data",
            ));
        }
    }
    Ok(Verified { gost, signer })
}
