//! Signatures and structures the tests build: real GOST CMS from OpenSSL, and hand-made BER.

/// A signature made with OpenSSL's GOST engine (GOST R 34.10-2012, 256 bits) over
/// `ABCDEFGHIJKLMNOPQRSTUVWXYZABCD`, attached, DER. How the fixtures were made:
/// `core/testdata/README.md`.
pub const GOST_ATTACHED: &[u8] = include_bytes!("../../testdata/gost-attached.p7s");
/// The same, detached.
pub const GOST_DETACHED: &[u8] = include_bytes!("../../testdata/gost-detached.p7s");
/// The same, attached, written by `openssl cms -stream`: BER with indefinite lengths
/// everywhere and the content as a constructed OCTET STRING.
pub const GOST_ATTACHED_BER: &[u8] = include_bytes!("../../testdata/gost-attached-ber.p7s");
/// The signer's certificate, PEM.
pub const GOST_CERT_PEM: &str = include_str!("../../testdata/gost-cert.pem");

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
