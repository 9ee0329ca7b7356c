//! The signer's certificate, read from a CMS signature: who signed (the subject's name, ИНН,
//! ИНН ЮЛ, ОГРН, СНИЛС), whose certificate it is (issuer, serial number, SHA-1 thumbprint as
//! CryptoPro shows it) and when it is valid. The X.509 fields (RFC 5280) are read with the same
//! BER reader as the signature, so nothing here can panic on hostile input; a certificate that
//! cannot be read is `None`, never an error of the signature itself.
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! TBSCertificate ::= SEQUENCE { version [0] EXPLICIT OPTIONAL, serialNumber INTEGER,
//!     signature AlgorithmIdentifier, issuer Name, validity SEQUENCE { notBefore, notAfter },
//!     subject Name, subjectPublicKeyInfo, ..., extensions [3] EXPLICIT OPTIONAL }
//! SignerInfo ::= SEQUENCE { version, sid (IssuerAndSerialNumber | [0] SubjectKeyIdentifier), ... }
//! ```

use super::ber::*;
use crate::value::Certificate;

const CN: &[u8] = &[0x55, 0x04, 0x03];
const O: &[u8] = &[0x55, 0x04, 0x0A];
const INN: &[u8] = &[0x2A, 0x85, 0x03, 0x03, 0x81, 0x03, 0x01, 0x01];
const OGRN: &[u8] = &[0x2A, 0x85, 0x03, 0x64, 0x01];
const SNILS: &[u8] = &[0x2A, 0x85, 0x03, 0x64, 0x03];
const INN_LE: &[u8] = &[0x2A, 0x85, 0x03, 0x64, 0x04];
const OGRNIP: &[u8] = &[0x2A, 0x85, 0x03, 0x64, 0x05];
const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1D, 0x0E];

/// The certificate of the first signer of `der` (a CMS `ContentInfo` / `SignedData`): the one
/// its `sid` names, or the only one carried. `None` when the signature carries no certificate
/// of its signer, or it cannot be read.
pub(crate) fn signer_certificate(der: &[u8]) -> Option<Certificate> {
    signer_certificate_parsed(der).ok().flatten()
}

fn signer_certificate_parsed(der: &[u8]) -> Parsed<Option<Certificate>> {
    let top = whole(der)?;
    let mut items = top.children();
    items.next()?;
    let explicit = items.next()?.ok_or(Malformed("no content"))?;
    let signed = explicit
        .children()
        .next()?
        .ok_or(Malformed("no SignedData"))?;
    let mut certificates = Vec::new();
    let mut sid = None;
    let mut fields = signed.children();
    while let Some(field) = fields.next()? {
        if field.tag == Tag::context(0) {
            certificates = field.children().collect()?;
        } else if field.tag == SET {
            if let Some(info) = field.children().next()? {
                let mut parts = info.children();
                parts.next()?;
                sid = parts.next()?;
            }
        }
    }
    let parsed: Vec<(Tlv<'_>, Tbs<'_>)> = certificates
        .into_iter()
        .filter_map(|c| tbs(&c).ok().map(|t| (c, t)))
        .collect();
    let chosen = match sid {
        // IssuerAndSerialNumber.
        Some(sid) if sid.tag == SEQUENCE => {
            let mut parts = sid.children();
            let issuer = parts.next()?.ok_or(Malformed("no issuer in sid"))?;
            let serial = parts.next()?.ok_or(Malformed("no serial in sid"))?;
            parsed
                .iter()
                .find(|(_, t)| t.issuer.raw == issuer.raw && t.serial == serial.contents)
        }
        // [0] SubjectKeyIdentifier.
        Some(sid) => parsed
            .iter()
            .find(|(_, t)| t.key_id.is_some_and(|k| k == sid.contents)),
        None => None,
    }
    .or(match parsed.as_slice() {
        [only] => Some(only),
        _ => None,
    });
    Ok(chosen.map(|(cert, t)| t.certificate(cert.raw)))
}

/// The fields of a TBSCertificate this module reads.
struct Tbs<'a> {
    serial: &'a [u8],
    issuer: Tlv<'a>,
    subject: Tlv<'a>,
    not_before_ms: i64,
    not_after_ms: i64,
    key_id: Option<&'a [u8]>,
}

fn tbs<'a>(certificate: &Tlv<'a>) -> Parsed<Tbs<'a>> {
    if certificate.tag != SEQUENCE {
        return Err(Malformed("a certificate is not a SEQUENCE"));
    }
    let tbs = certificate
        .children()
        .next()?
        .ok_or(Malformed("no tbsCertificate"))?;
    let mut fields = tbs.children();
    let mut next =
        || -> Parsed<Tlv<'a>> { fields.next()?.ok_or(Malformed("a short tbsCertificate")) };
    let mut serial = next()?;
    if serial.tag == Tag::context(0) {
        serial = next()?;
    }
    if serial.tag != INTEGER {
        return Err(Malformed("no serialNumber"));
    }
    next()?; // signature algorithm
    let issuer = next()?;
    let validity = next()?;
    let subject = next()?;
    let mut times = validity.children();
    let not_before_ms = time_ms(&times.next()?.ok_or(Malformed("no notBefore"))?)?;
    let not_after_ms = time_ms(&times.next()?.ok_or(Malformed("no notAfter"))?)?;
    let mut key_id = None;
    while let Some(field) = fields.next()? {
        if field.tag == Tag::context(3) {
            key_id = subject_key_id(&field)?;
        }
    }
    Ok(Tbs {
        serial: serial.contents,
        issuer,
        subject,
        not_before_ms,
        not_after_ms,
        key_id,
    })
}

impl Tbs<'_> {
    fn certificate(&self, raw: &[u8]) -> Certificate {
        let subject = attributes(&self.subject);
        let issuer = attributes(&self.issuer);
        let find = |attrs: &[(&[u8], String)], oid: &[u8]| {
            attrs
                .iter()
                .find(|(o, _)| *o == oid)
                .map(|(_, v)| v.clone())
        };
        let digits = |attrs: &[(&[u8], String)], oid: &[u8]| {
            find(attrs, oid)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        };
        let thumbprint = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, raw);
        Certificate {
            subject: find(&subject, CN)
                .or_else(|| find(&subject, O))
                .unwrap_or_default(),
            organization: find(&subject, O),
            issuer: find(&issuer, CN)
                .or_else(|| find(&issuer, O))
                .unwrap_or_default(),
            serial: upper_hex(self.serial.strip_prefix(&[0]).unwrap_or(self.serial)),
            thumbprint: upper_hex(thumbprint.as_ref()),
            inn: digits(&subject, INN),
            inn_le: digits(&subject, INN_LE),
            ogrn: digits(&subject, OGRN).or_else(|| digits(&subject, OGRNIP)),
            snils: digits(&subject, SNILS),
            not_before_ms: self.not_before_ms,
            not_after_ms: self.not_after_ms,
        }
    }
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A Name's attributes: (OID contents, value as text), in order; unreadable ones skipped.
fn attributes<'a>(name: &Tlv<'a>) -> Vec<(&'a [u8], String)> {
    let mut out = Vec::new();
    let Ok(rdns) = name.children().collect() else {
        return out;
    };
    for rdn in rdns {
        let Ok(pairs) = rdn.children().collect() else {
            continue;
        };
        for pair in pairs {
            let mut parts = pair.children();
            if let (Ok(Some(oid)), Ok(Some(value))) = (parts.next(), parts.next()) {
                if let Some(text) = string_value(&value) {
                    out.push((oid.contents, text));
                }
            }
        }
    }
    out
}

/// The text of a directory string (UTF8String, PrintableString, NumericString, IA5String,
/// TeletexString, BMPString); at most 256 characters, control characters dropped.
fn string_value(value: &Tlv<'_>) -> Option<String> {
    let text = match value.tag.number {
        12 | 18 | 19 | 20 | 22 if !value.tag.constructed => {
            String::from_utf8_lossy(value.contents).into_owned()
        }
        30 if !value.tag.constructed => {
            let units: Vec<u16> = value
                .contents
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => return None,
    };
    Some(text.chars().filter(|c| !c.is_control()).take(256).collect())
}

/// The SubjectKeyIdentifier in `[3] EXPLICIT Extensions`, if any.
fn subject_key_id<'a>(explicit: &Tlv<'a>) -> Parsed<Option<&'a [u8]>> {
    let Some(extensions) = explicit.children().next()? else {
        return Ok(None);
    };
    let mut all = extensions.children();
    while let Some(extension) = all.next()? {
        let parts = extension.children().collect()?;
        if let [oid, .., value] = parts.as_slice() {
            if oid.contents == SUBJECT_KEY_ID {
                // extnValue is an OCTET STRING holding the DER of an OCTET STRING.
                return Ok(Some(whole(value.contents)?.contents));
            }
        }
    }
    Ok(None)
}

/// UTCTime (`YYMMDDHHMMSSZ`, 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) in Unix ms.
fn time_ms(time: &Tlv<'_>) -> Parsed<i64> {
    let bad = Malformed("an unreadable validity time");
    let text = std::str::from_utf8(time.contents).map_err(|_| bad)?;
    let text = text.strip_suffix('Z').ok_or(bad)?;
    let (year, rest) = match time.tag.number {
        23 if text.len() == 12 => {
            let yy: i64 = text[..2].parse().map_err(|_| bad)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        24 if text.len() == 14 => (text[..4].parse().map_err(|_| bad)?, &text[4..]),
        _ => return Err(bad),
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let field = |at: usize| -> i64 { rest[at..at + 2].parse().unwrap_or(-1) };
    let (month, day, hour, minute, second) = (field(0), field(2), field(4), field(6), field(8));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=60).contains(&second)
    {
        return Err(bad);
    }
    let days = crate::civil::days_from_civil(year, month, day);
    Ok((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cms::test_support::*;

    /// A signature by a certificate with the Russian subject attributes (version 1, valid
    /// 2020-01-01 to 2021-01-01; how it was made: `core/testdata/README.md`).
    const GOST_INN_ATTACHED: &[u8] = include_bytes!("../../testdata/gost-inn-attached.p7s");

    #[test]
    fn the_russian_subject_attributes_are_read() {
        let c = signer_certificate(GOST_INN_ATTACHED).unwrap();
        assert_eq!(
            c,
            Certificate {
                subject: "Иванов Иван".into(),
                organization: Some("ООО Ромашка".into()),
                issuer: "Иванов Иван".into(),
                serial: "01".into(),
                thumbprint: "33DDA70609349F192AAD7FBD0F71B265F955A381".into(),
                inn: Some("007707083893".into()),
                inn_le: Some("7707083893".into()),
                ogrn: Some("1027700132195".into()),
                snils: Some("12345678901".into()),
                not_before_ms: 1_577_836_800_000,
                not_after_ms: 1_609_459_200_000,
            }
        );
        assert_eq!(c.has_inn("7707083893"), Some(true));
        assert_eq!(c.has_inn("007707083893"), Some(true));
        assert_eq!(c.has_inn("5003052454"), Some(false));
        assert_eq!(c.inns(), "ИНН ЮЛ 7707083893, ИНН 007707083893");
    }

    #[test]
    fn a_version_3_certificate_in_each_encoding() {
        for signature in [GOST_ATTACHED, GOST_DETACHED, GOST_ATTACHED_BER] {
            let c = signer_certificate(signature).unwrap();
            assert_eq!(c.subject, "suz-auth test fixture");
            assert_eq!(c.organization.as_deref(), Some("Test LLC"));
            assert_eq!(c.serial, "24DED1D53ADC94DEFA61A97E2AA1BEEF9F8C933F");
            assert_eq!(c.thumbprint, "0935BB18A0B4306D3FE9571B6D1E4FED0C63D851");
            assert_eq!((c.inn.as_deref(), c.inn_le.as_deref()), (None, None));
            assert_eq!(c.has_inn("7707083893"), None);
            assert_eq!(c.inns(), "no INN");
            // notBefore=Nov 23 20:41:45 2026 GMT, notAfter=Nov 20 20:41:45 2036 GMT
            assert_eq!(c.not_before_ms, 1_795_466_505_000);
            assert_eq!(c.not_after_ms, 2_110_826_505_000);
        }
    }

    #[test]
    fn what_is_not_a_signature_with_a_certificate_is_none() {
        assert_eq!(signer_certificate(b""), None);
        assert_eq!(signer_certificate(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(signer_certificate(&gost_cert_der()), None);
        // The signature cut anywhere: never a panic, never a certificate read from half of it.
        for end in (0..GOST_ATTACHED.len()).step_by(7) {
            let _ = signer_certificate(&GOST_ATTACHED[..end]);
        }
    }

    #[test]
    fn both_time_forms_and_their_centuries() {
        let time = |tag: u8, text: &str| {
            let bytes = tlv(tag, text.as_bytes());
            time_ms(&whole(&bytes).unwrap())
        };
        let at = |y, m, d| crate::civil::days_from_civil(y, m, d) * 86_400_000;
        assert_eq!(
            time(0x17, "491231235959Z"),
            Ok(at(2049, 12, 31) + 86_399_000)
        );
        assert_eq!(time(0x17, "500101000000Z"), Ok(at(1950, 1, 1)));
        assert_eq!(time(0x18, "20500101000000Z"), Ok(at(2050, 1, 1)));
        for (tag, bad) in [
            (0x17, "500101000000"),
            (0x17, "5001010000Z"),
            (0x17, "501301000000Z"),
            (0x18, "2050010100000Z"),
            (0x18, "20500132000000Z"),
            (0x18, "2050-1-1000000Z"),
            (0x04, "20500101000000Z"),
        ] {
            assert!(time(tag, bad).is_err(), "{bad}");
        }
    }
}
