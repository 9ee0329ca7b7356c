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

use crate::error::{Error, Result};
use crate::signer::SignatureKind;

/// How deeply elements may nest. A CAdES signature with its certificates nests about a dozen
/// levels; anything deeper is refused before it can exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 64;

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

/// Why input is not well-formed: fixed text, never the input's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Malformed(&'static str);

/// What the reader returns.
type Parsed<T> = std::result::Result<T, Malformed>;

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

/// Tag classes, from the two high bits of the identifier octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Universal,
    Application,
    Context,
    Private,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tag {
    class: Class,
    constructed: bool,
    number: u32,
}

impl Tag {
    const fn universal(number: u32, constructed: bool) -> Tag {
        Tag {
            class: Class::Universal,
            constructed,
            number,
        }
    }

    /// A constructed context-specific tag, `[n]`, as EXPLICIT and SET/SEQUENCE-valued
    /// IMPLICIT fields are.
    const fn context(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: true,
            number,
        }
    }

    /// Universal tag 0 is reserved for the end-of-contents octets.
    fn is_end_of_contents(self) -> bool {
        self == Tag::universal(0, false)
    }
}

const INTEGER: Tag = Tag::universal(2, false);
const BIT_STRING: Tag = Tag::universal(3, false);
const OCTET_STRING: u32 = 4;
const OID: Tag = Tag::universal(6, false);
const SEQUENCE: Tag = Tag::universal(16, true);
const SET: Tag = Tag::universal(17, true);

/// One element: its tag and contents (for an indefinite length, without the end-of-contents
/// octets), and how deeply it is nested.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    tag: Tag,
    contents: &'a [u8],
    depth: usize,
    /// The whole element as it was read: identifier, length, contents (and end-of-contents).
    raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The elements inside a constructed element.
    fn children(&self) -> Reader<'a> {
        Reader {
            rest: self.contents,
            depth: self.depth.saturating_add(1),
        }
    }

    /// A primitive INTEGER whose value is one of `values` (one contents octet).
    fn is_small_integer(&self, values: &[u8]) -> bool {
        self.tag == INTEGER && matches!(self.contents, [v] if values.contains(v))
    }
}

/// The elements of one level, in order.
struct Reader<'a> {
    rest: &'a [u8],
    depth: usize,
}

impl<'a> Reader<'a> {
    /// The next element, or `None` at the end of this level.
    fn next(&mut self) -> Parsed<Option<Tlv<'a>>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (tlv, rest) = element(self.rest, self.depth)?;
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// The next element if it has tag `tag`; otherwise nothing is consumed.
    fn next_if(&mut self, tag: Tag) -> Parsed<Option<Tlv<'a>>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (tlv, rest) = element(self.rest, self.depth)?;
        if tlv.tag != tag {
            return Ok(None);
        }
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// All remaining elements.
    fn collect(mut self) -> Parsed<Vec<Tlv<'a>>> {
        let mut all = Vec::new();
        while let Some(tlv) = self.next()? {
            all.push(tlv);
        }
        Ok(all)
    }
}

/// A length: a count of octets, or indefinite (contents end at end-of-contents octets).
enum Length {
    Definite(usize),
    Indefinite,
}

/// Takes the first octet of `input`.
fn octet(input: &mut &[u8]) -> Parsed<u8> {
    let (&first, rest) = input.split_first().ok_or(Malformed("truncated"))?;
    *input = rest;
    Ok(first)
}

/// Reads an identifier: one octet, or more for tag numbers above 30 (at most four more,
/// which is far beyond any tag CMS uses).
fn tag(input: &mut &[u8]) -> Parsed<Tag> {
    let first = octet(input)?;
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = first & 0x20 != 0;
    let mut number = u32::from(first & 0x1F);
    if number == 0x1F {
        number = 0;
        let mut ended = false;
        for _ in 0..4 {
            let next = octet(input)?;
            // At most 4 × 7 = 28 bits: the shift never loses bits.
            number = (number << 7) | u32::from(next & 0x7F);
            if next & 0x80 == 0 {
                ended = true;
                break;
            }
        }
        if !ended {
            return Err(Malformed("a tag number too large"));
        }
    }
    Ok(Tag {
        class,
        constructed,
        number,
    })
}

/// Reads a length: short form, long form with one to four octets, or indefinite.
fn length(input: &mut &[u8]) -> Parsed<Length> {
    let first = octet(input)?;
    match first {
        0x00..=0x7F => Ok(Length::Definite(usize::from(first))),
        0x80 => Ok(Length::Indefinite),
        0x81..=0x84 => {
            let mut value: u32 = 0;
            for _ in 0..(first & 0x7F) {
                // At most four octets: the shift never loses bits.
                value = (value << 8) | u32::from(octet(input)?);
            }
            usize::try_from(value)
                .map(Length::Definite)
                .map_err(|_| Malformed("a length too large"))
        }
        _ => Err(Malformed("a length of more than four octets")),
    }
}

/// Reads the element at the start of `input`, nested `depth` levels deep; returns it and the
/// input after it.
fn element(input: &[u8], depth: usize) -> Parsed<(Tlv<'_>, &[u8])> {
    if depth > MAX_DEPTH {
        return Err(Malformed("nested too deeply"));
    }
    let mut after_header = input;
    let tag = tag(&mut after_header)?;
    if tag.is_end_of_contents() {
        return Err(Malformed(
            "an end-of-contents where an element was expected",
        ));
    }
    match length(&mut after_header)? {
        Length::Definite(len) => {
            let (contents, rest) = after_header
                .split_at_checked(len)
                .ok_or(Malformed("truncated"))?;
            let raw = input
                .get(..input.len() - rest.len())
                .ok_or(Malformed("truncated"))?;
            Ok((
                Tlv {
                    tag,
                    contents,
                    depth,
                    raw,
                },
                rest,
            ))
        }
        Length::Indefinite => {
            if !tag.constructed {
                return Err(Malformed("an indefinite length on a primitive element"));
            }
            // The contents are whole elements up to the end-of-contents octets.
            let mut rest = after_header;
            loop {
                if let Some(after_end) = rest.strip_prefix(&[0, 0]) {
                    // `rest` is a suffix of `after_header`, so this cannot underflow.
                    let used = after_header.len() - rest.len();
                    let contents = after_header.get(..used).ok_or(Malformed("truncated"))?;
                    let raw = input
                        .get(..input.len() - after_end.len())
                        .ok_or(Malformed("truncated"))?;
                    return Ok((
                        Tlv {
                            tag,
                            contents,
                            depth,
                            raw,
                        },
                        after_end,
                    ));
                }
                if rest.is_empty() {
                    return Err(Malformed("an indefinite length never ended"));
                }
                let (_, next) = element(rest, depth.saturating_add(1))?;
                rest = next;
            }
        }
    }
}

/// The one element that is all of `input`.
fn whole(input: &[u8]) -> Parsed<Tlv<'_>> {
    let (tlv, rest) = element(input, 0)?;
    if rest.is_empty() {
        Ok(tlv)
    } else {
        Err(Malformed("bytes after the end of the structure"))
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
pub(crate) mod test_support {
    /// A signature made with OpenSSL's GOST engine (GOST R 34.10-2012, 256 bits) over
    /// `ABCDEFGHIJKLMNOPQRSTUVWXYZABCD`, attached, DER. How the fixtures were made:
    /// `core/testdata/README.md`.
    pub const GOST_ATTACHED: &[u8] = include_bytes!("../testdata/gost-attached.p7s");
    /// The same, detached.
    pub const GOST_DETACHED: &[u8] = include_bytes!("../testdata/gost-detached.p7s");
    /// The same, attached, written by `openssl cms -stream`: BER with indefinite lengths
    /// everywhere and the content as a constructed OCTET STRING.
    pub const GOST_ATTACHED_BER: &[u8] = include_bytes!("../testdata/gost-attached-ber.p7s");
    /// The signer's certificate, PEM.
    pub const GOST_CERT_PEM: &str = include_str!("../testdata/gost-cert.pem");

    /// [`GOST_CERT_PEM`] as DER.
    pub fn gost_cert_der() -> Vec<u8> {
        use base64::Engine;
        let b64: String = GOST_CERT_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    /// One DER element (definite length, shortest form).
    pub fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        super::encode(tag, contents)
    }

    /// A constructed element of the given parts.
    pub fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        tlv(tag, &parts.concat())
    }

    /// `id-data`, 1.2.840.113549.1.7.1.
    pub const ID_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
    /// GOST R 34.11-2012 256-bit, 1.2.643.7.1.1.2.2.
    pub const GOST_DIGEST: &[u8] = &[0x2A, 0x85, 0x03, 0x07, 0x01, 0x01, 0x02, 0x02];
    /// GOST R 34.10-2012 256-bit, 1.2.643.7.1.1.1.1.
    pub const GOST_KEY: &[u8] = &[0x2A, 0x85, 0x03, 0x07, 0x01, 0x01, 0x01, 0x01];

    /// A `ContentInfo` of type `content_type` around `content`.
    pub fn content_info(content_type: &[u8], content: &[u8]) -> Vec<u8> {
        cons(0x30, &[&tlv(0x06, content_type), &cons(0xA0, &[content])])
    }

    /// The smallest `SignedData` the check accepts, with one (fake) signer: attached when
    /// `content` is given.
    pub fn signed_data(content: Option<&[u8]>) -> Vec<u8> {
        signed_data_with(content.map(|c| tlv(0x04, c)).as_deref())
    }

    /// [`signed_data`] with `e_content` as the element inside eContent's `[0]`, as given.
    pub fn signed_data_with(e_content: Option<&[u8]>) -> Vec<u8> {
        let e_content = e_content.map(|c| cons(0xA0, &[c]));
        let encap = cons(
            0x30,
            &[
                &tlv(0x06, ID_DATA),
                e_content.as_deref().unwrap_or_default(),
            ],
        );
        let algorithm = |oid| cons(0x30, &[&tlv(0x06, oid)]);
        let signer = cons(
            0x30,
            &[
                &tlv(0x02, &[1]),
                &cons(0x30, &[&cons(0x30, &[]), &tlv(0x02, &[1])]),
                &algorithm(GOST_DIGEST),
                &algorithm(GOST_KEY),
                &tlv(0x04, &[0x5A; 8]),
            ],
        );
        let signed = cons(
            0x30,
            &[
                &tlv(0x02, &[1]),
                &cons(0x31, &[&algorithm(GOST_DIGEST)]),
                &encap,
                &cons(0x31, &[&signer]),
            ],
        );
        content_info(super::ID_SIGNED_DATA, &signed)
    }

    /// `der` with every constructed element re-encoded with an indefinite length, as a BER
    /// streaming encoder writes it.
    pub fn indefinite(der: &[u8]) -> Vec<u8> {
        fn encode(mut input: &[u8], out: &mut Vec<u8>) {
            while !input.is_empty() {
                let (tlv, rest) = super::element(input, 0).expect("well-formed DER");
                let mut after_tag = input;
                super::tag(&mut after_tag).unwrap();
                let identifier = input.len() - after_tag.len();
                if tlv.tag.constructed {
                    out.extend_from_slice(&input[..identifier]);
                    out.push(0x80);
                    encode(tlv.contents, out);
                    out.extend_from_slice(&[0, 0]);
                } else {
                    out.extend_from_slice(&input[..input.len() - rest.len()]);
                }
                input = rest;
            }
        }
        let mut out = Vec::new();
        encode(der, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
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
        assert!(
            refusal(&crl, SignatureKind::Attached).contains("not a CMS signature (ContentInfo)")
        );
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
        assert!(
            refusal(&long, SignatureKind::Attached).contains("a CMS of an unreadable content type")
        );
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
        assert!(
            refusal(&[0x02, 0x01, 0x01], SignatureKind::Attached).contains("not a CMS signature")
        );
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
        let e =
            check_signature(&signed_data_with(Some(&octets)), SignatureKind::Attached).unwrap_err();
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
}

#[cfg(test)]
mod conform_tests {
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
            || (stderr.contains("engine")
                && !out.status.success()
                && !stderr.contains("Verification"))
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
}
