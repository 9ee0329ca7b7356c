//! What a signer returned, read far enough to know whether it may be sent: only a CMS
//! `SignedData` of the kind the step needs leaves the library. A certificate, a private key, a
//! CMS of another type or a signature of the other kind is a
//! [`crate::ErrorKind::SignerFailed`] that says what it was, without echoing any of its bytes.
//!
//! The reader is a minimal BER reader written here rather than the `der` crate: `der` accepts
//! DER only and rejects the indefinite lengths (`30 80 … 00 00`) that CryptoPro and OpenSSL's
//! streaming mode emit. `bcder`, which reads BER, was tried in its place (0.7.7): it reports
//! errors as text only, so giving the reasons below meant matching its messages; its
//! `skip_all` fails on every indefinite-length value; and the code grew rather than shrank. It reads tag-length-value elements with definite lengths of up to four
//! length bytes and with indefinite lengths ended by end-of-contents octets, nested to at most
//! [`MAX_DEPTH`] levels. It never panics: every slice is taken with a checked method and every
//! length is checked against what is left. It checks structure only; the server verifies the
//! signature itself.
//!
//! The structures, from RFC 5652:
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, content [0] EXPLICIT ANY }
//! SignedData ::= SEQUENCE {
//!     version INTEGER, digestAlgorithms SET,
//!     encapContentInfo SEQUENCE { eContentType OBJECT IDENTIFIER,
//!                                 eContent [0] EXPLICIT OCTET STRING OPTIONAL },
//!     certificates [0] IMPLICIT OPTIONAL, crls [1] IMPLICIT OPTIONAL,
//!     signerInfos SET }
//! ```

mod ber;
mod certificate;

pub(crate) use self::certificate::signer_certificate;

use self::ber::*;
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

/// The content type `id-signedData`, 1.2.840.113549.1.7.2 (the OID's contents octets).
const ID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];

/// CMS content types with a name worth showing in a message.
const CONTENT_TYPE_NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.7.1", "data"),
    ("1.2.840.113549.1.7.3", "envelopedData"),
    ("1.2.840.113549.1.7.4", "signedAndEnvelopedData"),
    ("1.2.840.113549.1.7.5", "digestedData"),
    ("1.2.840.113549.1.7.6", "encryptedData"),
    ("1.2.840.113549.1.9.16.1.2", "authData"),
    ("1.2.840.113549.1.9.16.1.23", "authEnvelopedData"),
];

const CERTIFICATE: &str = "the signer returned a certificate, not a CMS signature";
const PRIVATE_KEY: &str = "the signer returned a private key, not a CMS signature";

/// Checks that `der` (DER or BER) is one whole CMS `ContentInfo` holding a `SignedData` with
/// at least one signer, whose content is embedded for [`SignatureKind::Attached`] and absent
/// for [`SignatureKind::Detached`]. Anything else is a [`crate::ErrorKind::SignerFailed`]
/// naming what it was; the message never contains the input.
pub(crate) fn check_signature(der: &[u8], kind: SignatureKind) -> Result<()> {
    let attached = classify(der).map_err(|what| Error::signer(what.to_string()))?;
    // Every kind listed, so that a new one cannot pass unchecked.
    match (kind, attached) {
        (SignatureKind::Attached, true) | (SignatureKind::Detached, false) => Ok(()),
        (SignatureKind::Attached, false) => Err(Error::signer(
            "the signer returned a detached signature where an attached one is needed",
        )),
        (SignatureKind::Detached, true) => Err(Error::signer(
            "the signer returned an attached signature where a detached one is needed",
        )),
    }
}

/// Makes a signer's CMS `SignedData` the kind a step needs, over `content` (the bytes the step
/// signs). 1C's crypto and most CSP tools make detached signatures, while GIS MT and True API
/// want the challenge attached:
/// - attached wanted, detached given: `content` is put into `encapContentInfo.eContent`. The
///   signature covers the signed attributes, whose `messageDigest` is the content's digest, so
///   it stays valid;
/// - detached wanted, attached given: the embedded content must be `content`; it is removed;
/// - attached wanted and given: the embedded content must be `content`.
///
/// The rebuilt structures are DER (definite lengths); the elements that are not rebuilt
/// (certificates, signer infos) are kept byte for byte. Anything that is not a signature is
/// refused as by [`check_signature`]; embedded content other than `content` is a
/// [`crate::ErrorKind::SignerFailed`] that says so without showing either.
pub(crate) fn conform(der: &[u8], kind: SignatureKind, content: &[u8]) -> Result<Vec<u8>> {
    let attached = classify(der).map_err(|what| Error::signer(what.to_string()))?;
    let parts = signed_parts(der).map_err(|Malformed(why)| {
        Error::signer(format!(
            "the signer returned a malformed CMS SignedData ({why})"
        ))
    })?;
    if let Some(embedded) = &parts.e_content {
        if embedded.as_slice() != content {
            return Err(Error::signer(format!(
                "the signer's attached signature carries {} bytes of other content than the {} bytes it was given to sign",
                embedded.len(),
                content.len()
            )));
        }
    }
    match (kind, attached) {
        (SignatureKind::Attached, true) | (SignatureKind::Detached, false) => Ok(der.to_vec()),
        (SignatureKind::Attached, false) => Ok(parts.rebuild(Some(content))),
        (SignatureKind::Detached, true) => Ok(parts.rebuild(None)),
    }
}

/// The pieces of a `ContentInfo` / `SignedData` that [`conform`] rebuilds around.
struct SignedParts<'a> {
    /// The `ContentInfo`'s contentType (id-signedData), whole.
    content_type: &'a [u8],
    /// `version` and `digestAlgorithms`, whole.
    head: Vec<&'a [u8]>,
    /// `eContentType`, whole.
    e_content_type: &'a [u8],
    /// The embedded content's octets (segments of a constructed OCTET STRING joined).
    e_content: Option<Vec<u8>>,
    /// `certificates`, `crls`, `signerInfos`: whatever follows `encapContentInfo`, whole.
    tail: Vec<&'a [u8]>,
}

impl SignedParts<'_> {
    /// The `ContentInfo` again, in DER where rebuilt, with `content` embedded or not.
    fn rebuild(&self, content: Option<&[u8]>) -> Vec<u8> {
        let mut encap = self.e_content_type.to_vec();
        if let Some(content) = content {
            encap.extend(encode(0xA0, &encode(0x04, content)));
        }
        let mut signed: Vec<u8> = self.head.concat();
        signed.extend(encode(0x30, &encap));
        signed.extend(self.tail.concat());
        let mut top = self.content_type.to_vec();
        top.extend(encode(0xA0, &encode(0x30, &signed)));
        encode(0x30, &top)
    }
}

/// Reads the parts of a signature [`classify`] accepted.
fn signed_parts(der: &[u8]) -> Parsed<SignedParts<'_>> {
    let top = whole(der)?;
    let mut items = top.children();
    let content_type = items.next()?.ok_or(Malformed("no contentType"))?;
    let explicit = items.next()?.ok_or(Malformed("no content"))?;
    let signed = explicit
        .children()
        .next()?
        .ok_or(Malformed("no SignedData"))?;
    let mut fields = signed.children();
    let version = fields.next()?.ok_or(Malformed("no version"))?;
    let digests = fields.next()?.ok_or(Malformed("no digestAlgorithms"))?;
    let encap = fields.next()?.ok_or(Malformed("no encapContentInfo"))?;
    let tail = fields.collect()?.into_iter().map(|t| t.raw).collect();
    let mut encap_fields = encap.children();
    let e_content_type = encap_fields.next()?.ok_or(Malformed("no eContentType"))?;
    let e_content = match encap_fields.next()? {
        None => None,
        Some(explicit) => {
            let octets = explicit
                .children()
                .next()?
                .ok_or(Malformed("an empty eContent"))?;
            let mut joined = Vec::new();
            octet_string_value(&octets, &mut joined)?;
            Some(joined)
        }
    };
    Ok(SignedParts {
        content_type: content_type.raw,
        head: vec![version.raw, digests.raw],
        e_content_type: e_content_type.raw,
        e_content,
        tail,
    })
}

/// Appends an OCTET STRING's value to `out`: its contents, or (BER, constructed) its segments'.
fn octet_string_value(tlv: &Tlv<'_>, out: &mut Vec<u8>) -> Parsed<()> {
    check_octet_string(tlv)?;
    if tlv.tag.constructed {
        let mut segments = tlv.children();
        while let Some(segment) = segments.next()? {
            octet_string_value(&segment, out)?;
        }
    } else {
        out.extend_from_slice(tlv.contents);
    }
    Ok(())
}

/// One DER element with a one-octet identifier and a definite length in the shortest form.
pub(crate) fn encode(identifier: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(identifier);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// Refuses a PEM block by its label alone, before anything is decoded: `CERTIFICATE` (also
/// `X509 CERTIFICATE`, `TRUSTED CERTIFICATE`) and any label with `PRIVATE KEY` in it.
pub(crate) fn check_pem_label(label: &str) -> Result<()> {
    let label = label.trim().to_ascii_uppercase();
    if label.contains("PRIVATE KEY") {
        Err(Error::signer(PRIVATE_KEY))
    } else if label.ends_with("CERTIFICATE") {
        Err(Error::signer(CERTIFICATE))
    } else {
        Ok(())
    }
}

/// Whether `input` is exactly one well-formed BER element (its nested contents unchecked
/// unless they use indefinite lengths).
pub(crate) fn is_one_element(input: &[u8]) -> bool {
    whole(input).is_ok()
}

/// What a signer's output was instead of a CMS SignedData signature.
#[derive(Debug, PartialEq, Eq)]
enum NotASignature {
    /// Not well-formed BER.
    Malformed(&'static str),
    /// A `ContentInfo` saying `id-signedData` whose content is not a `SignedData`.
    MalformedSignedData(&'static str),
    /// A `SignedData` with no `SignerInfo` (a "certs-only" bundle such as a `.p7b`).
    WithoutSigner,
    /// A `ContentInfo` of another content type: its OID, dotted, with a name if known (`None`
    /// when the OID is not fit to show).
    OtherCms(Option<String>),
    /// An X.509 certificate.
    Certificate,
    /// A private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    PrivateKey,
    /// Well-formed, but none of the above.
    NotContentInfo,
}

impl From<Malformed> for NotASignature {
    fn from(Malformed(why): Malformed) -> Self {
        NotASignature::Malformed(why)
    }
}

impl std::fmt::Display for NotASignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotASignature::Malformed(why) => write!(
                f,
                "the signer's output is not a well-formed DER/BER structure ({why})"
            ),
            NotASignature::MalformedSignedData(why) => {
                write!(f, "the signer returned a malformed CMS SignedData ({why})")
            }
            NotASignature::WithoutSigner => f.write_str(
                "the signer returned a CMS SignedData with no signer (certificates only), \
                 not a signature",
            ),
            NotASignature::OtherCms(Some(oid)) => {
                write!(f, "the signer returned a CMS of type {oid}, not SignedData")
            }
            NotASignature::OtherCms(None) => f.write_str(
                "the signer returned a CMS of an unreadable content type, not SignedData",
            ),
            NotASignature::Certificate => f.write_str(CERTIFICATE),
            NotASignature::PrivateKey => f.write_str(PRIVATE_KEY),
            NotASignature::NotContentInfo => f.write_str(
                "the signer's output is an ASN.1 structure but not a CMS signature (ContentInfo)",
            ),
        }
    }
}

/// Whether `der` is a CMS SignedData signature that carries its content (`true`) or not
/// (`false`); otherwise what it is instead.
fn classify(der: &[u8]) -> std::result::Result<bool, NotASignature> {
    let top = whole(der)?;
    if top.tag != SEQUENCE {
        return Err(NotASignature::NotContentInfo);
    }
    let items = top.children().collect()?;
    match items.as_slice() {
        [content_type, rest @ ..] if content_type.tag == OID => {
            classify_content_info(content_type, rest)
        }
        _ if is_private_key(&items) => Err(NotASignature::PrivateKey),
        _ if is_certificate(&items)? => Err(NotASignature::Certificate),
        _ => Err(NotASignature::NotContentInfo),
    }
}

/// A `ContentInfo`: `content_type`, then `[0] EXPLICIT` content (optional in PKCS#7).
fn classify_content_info(
    content_type: &Tlv<'_>,
    rest: &[Tlv<'_>],
) -> std::result::Result<bool, NotASignature> {
    let content = match rest {
        [] => None,
        [content] if content.tag == Tag::context(0) => Some(content),
        // Something else that starts with an OID, such as an AlgorithmIdentifier.
        _ => return Err(NotASignature::NotContentInfo),
    };
    if content_type.contents != ID_SIGNED_DATA {
        return Err(NotASignature::OtherCms(describe_oid(content_type.contents)));
    }
    let content = content.ok_or(NotASignature::MalformedSignedData("no content"))?;
    let (attached, signers) = read_signed_data(content)
        .map_err(|Malformed(why)| NotASignature::MalformedSignedData(why))?;
    if signers == 0 {
        return Err(NotASignature::WithoutSigner);
    }
    Ok(attached)
}

/// The `[0] EXPLICIT` content of a `ContentInfo` of type `id-signedData`: whether it carries
/// its content, and how many `SignerInfo`s it has.
fn read_signed_data(content: &Tlv<'_>) -> Parsed<(bool, usize)> {
    let mut outer = content.children();
    let signed = outer
        .next_if(SEQUENCE)?
        .ok_or(Malformed("the content is not a SEQUENCE"))?;
    if outer.next()?.is_some() {
        return Err(Malformed("more than one element in the content"));
    }
    let mut fields = signed.children();
    fields.next_if(INTEGER)?.ok_or(Malformed("no version"))?;
    fields
        .next_if(SET)?
        .ok_or(Malformed("no digestAlgorithms"))?;
    let encap = fields
        .next_if(SEQUENCE)?
        .ok_or(Malformed("no encapContentInfo"))?;
    let attached = encapsulated_content(&encap)?;
    fields.next_if(Tag::context(0))?; // certificates
    fields.next_if(Tag::context(1))?; // crls
    let signer_infos = fields.next_if(SET)?.ok_or(Malformed("no signerInfos"))?;
    if fields.next()?.is_some() {
        return Err(Malformed("elements after signerInfos"));
    }
    let signers = signer_infos.children().collect()?;
    if signers.iter().any(|s| s.tag != SEQUENCE) {
        return Err(Malformed("a signerInfo that is not a SEQUENCE"));
    }
    Ok((attached, signers.len()))
}

/// `encapContentInfo`: whether it carries `eContent`.
fn encapsulated_content(encap: &Tlv<'_>) -> Parsed<bool> {
    let mut fields = encap.children();
    fields.next_if(OID)?.ok_or(Malformed("no eContentType"))?;
    let Some(explicit) = fields.next_if(Tag::context(0))? else {
        return match fields.next()? {
            None => Ok(false),
            Some(_) => Err(Malformed("an eContent that is not [0]")),
        };
    };
    if fields.next()?.is_some() {
        return Err(Malformed("elements after eContent"));
    }
    let mut inner = explicit.children();
    let octets = inner.next()?.ok_or(Malformed("an empty eContent"))?;
    if inner.next()?.is_some() {
        return Err(Malformed("more than one element in eContent"));
    }
    check_octet_string(&octets)?;
    Ok(true)
}

/// An OCTET STRING: primitive, or (BER) constructed from OCTET STRING segments.
fn check_octet_string(tlv: &Tlv<'_>) -> Parsed<()> {
    if tlv.tag.class != Class::Universal || tlv.tag.number != OCTET_STRING {
        return Err(Malformed("an eContent that is not an OCTET STRING"));
    }
    if tlv.tag.constructed {
        let mut segments = tlv.children();
        while let Some(segment) = segments.next()? {
            check_octet_string(&segment)?;
        }
    }
    Ok(())
}

/// The elements of a private key's SEQUENCE: PKCS#8 (`version 0|1, AlgorithmIdentifier,
/// OCTET STRING, …`), PKCS#1 RSA (`version 0|1` and at least eight more INTEGERs) or SEC1 EC
/// (`version 1, OCTET STRING, …`).
fn is_private_key(items: &[Tlv<'_>]) -> bool {
    let octet_string = Tag::universal(OCTET_STRING, false);
    match items {
        [version, algorithm, key, ..] if version.is_small_integer(&[0, 1]) => {
            let pkcs8 =
                algorithm.tag == SEQUENCE && key.tag == octet_string && starts_with_oid(algorithm);
            let pkcs1 = items.len() >= 9 && items.iter().all(|i| i.tag == INTEGER);
            let sec1 = version.is_small_integer(&[1]) && algorithm.tag == octet_string;
            pkcs8 || pkcs1 || sec1
        }
        [version, key] => version.is_small_integer(&[1]) && key.tag == octet_string,
        _ => false,
    }
}

/// The elements of an X.509 `Certificate`: `tbsCertificate SEQUENCE, signatureAlgorithm
/// SEQUENCE, signatureValue BIT STRING`, where `tbsCertificate` starts with a `[0]` version
/// or (version 1) with `serialNumber INTEGER, signature SEQUENCE, issuer SEQUENCE, validity
/// SEQUENCE`. A CRL or a certificate request has the same outer shape and another inside.
fn is_certificate(items: &[Tlv<'_>]) -> Parsed<bool> {
    let [tbs, algorithm, signature] = items else {
        return Ok(false);
    };
    if tbs.tag != SEQUENCE || algorithm.tag != SEQUENCE || signature.tag != BIT_STRING {
        return Ok(false);
    }
    let fields = tbs.children().collect()?;
    Ok(match fields.as_slice() {
        [version, ..] if version.tag == Tag::context(0) => true,
        [serial, signature, issuer, validity, ..] => {
            serial.tag == INTEGER
                && signature.tag == SEQUENCE
                && starts_with_oid(signature)
                && issuer.tag == SEQUENCE
                && validity.tag == SEQUENCE
        }
        _ => false,
    })
}

fn starts_with_oid(tlv: &Tlv<'_>) -> bool {
    matches!(tlv.children().next(), Ok(Some(first)) if first.tag == OID)
}

/// An OID for a message: dotted, with its name when it is a known CMS content type; `None`
/// when it is too long or malformed to show.
fn describe_oid(contents: &[u8]) -> Option<String> {
    let dotted = dotted(contents)?;
    Some(
        match CONTENT_TYPE_NAMES.iter().find(|(oid, _)| *oid == dotted) {
            Some((_, name)) => format!("{dotted} ({name})"),
            None => dotted,
        },
    )
}

/// The dotted form of an OID's contents octets; `None` when malformed or longer than 32
/// octets (no real content type is; a longer one would only carry arbitrary bytes into the
/// message).
fn dotted(contents: &[u8]) -> Option<String> {
    if contents.is_empty() || contents.len() > 32 {
        return None;
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, &b) in contents.iter().enumerate() {
        value = value.checked_mul(128)?.checked_add(u64::from(b & 0x7F))?;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        } else if i + 1 == contents.len() {
            return None; // the last subidentifier never ended
        }
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Builders of small DER structures and the GOST fixtures, for the tests of this module and of
/// its callers.
#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod conform_tests;
