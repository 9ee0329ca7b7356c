//! SUZ installation registration: `POST {registration}/api/v3/integration/connection?omsId=...`
//! («API СУЗ 3.0»; `{suz}/api/v2/…` for 2.x) with `X-RegistrationKey` and `X-Signature` (a
//! detached signature of the exact body bytes; the pharma group sends none). The answer is
//! `{status: SUCCESS, omsConnection}` (3.0 adds `name`) or `{status: REJECTED, rejectionReason}`.

use super::{
    require_text, require_uuid, string_field, success_json, PendingSignature, Start, Step,
};
use crate::error::{Error, ErrorKind, Result};
use crate::signer::SignatureKind;
use crate::transport::{Method, Request, Response};

/// Phase one: the body to sign, `{"address": address}`. No network. `base` is the
/// registration URL with the API version (`https://suzgrid.crpt.ru:16443/api/v3`).
pub fn begin(
    base: &str,
    oms_id: &str,
    registration_key: &str,
    address: &str,
    start: Start,
) -> Result<PendingSignature> {
    require_uuid(oms_id, "omsId")?;
    require_uuid(registration_key, "registration key")?;
    require_text(address, "address")?;
    let body = serde_json::to_vec(&serde_json::json!({ "address": address }))
        .map_err(|e| Error::invalid_argument(format!("address: {e}")))?;
    Ok(PendingSignature::new(
        body,
        SignatureKind::Detached,
        Step::Register {
            url: url(base, oms_id),
            oms_id: oms_id.trim().to_owned(),
            registration_key: registration_key.trim().to_owned(),
        },
        start,
    ))
}

/// The registration path under a versioned base (`…/api/v3`).
pub(super) const PATH: &str = "/integration/connection";

/// Where a registration is sent, under `base` (the registration URL and API version).
pub(super) fn url(base: &str, oms_id: &str) -> String {
    format!("{base}{PATH}?omsId={}", oms_id.trim())
}

/// The registration request: the signed body as it was, byte for byte.
pub(super) fn request(
    url: &str,
    registration_key: &str,
    body: &[u8],
    signature: Option<String>,
) -> Request {
    let mut request =
        Request::new(Method::Post, url.to_owned()).header("X-RegistrationKey", registration_key);
    if let Some(signature) = signature {
        request = request.header("X-Signature", signature);
    }
    request.json(body.to_vec())
}

/// The `omsConnection` of a `SUCCESS`, or the reason of a `REJECTED`.
pub fn parse(response: &Response) -> Result<String> {
    let what = "installation registration";
    let v = success_json(response, what).map_err(|mut e| {
        // The SUZ answers a signature it cannot verify with 413 "Неверная подпись": the code
        // stays (PAYLOAD_TOO_LARGE), the message says what happened.
        let text = e.server_message.as_deref().unwrap_or("").to_lowercase();
        if e.http_status == Some(413) && (text.contains("подпис") || text.contains("signature")) {
            e.message = "the SUZ refused the registration's signature (HTTP 413); check the certificate and that the exact body was signed (detached)".to_owned();
        }
        e
    })?;
    let status = string_field(&v, "status", response, what)?;
    match status.to_ascii_uppercase().as_str() {
        "SUCCESS" => {
            let connection = string_field(&v, "omsConnection", response, what)?;
            require_uuid(&connection, "omsConnection in the answer").map_err(|_| {
                response.protocol_error(format!(
                    "{what}: omsConnection {connection:?} is not a UUID"
                ))
            })?;
            Ok(connection)
        }
        "REJECTED" => {
            let reason = v
                .get("rejectionReason")
                .and_then(|r| r.as_str())
                .unwrap_or("no reason given")
                .to_owned();
            let mut e = Error::new(
                ErrorKind::RegistrationRejected,
                format!("the SUZ rejected the registration: {reason}"),
            );
            e.http_status = Some(response.status);
            e.server_code = Some("REJECTED".to_owned());
            e.server_message = Some(reason);
            Err(e)
        }
        other => Err(response.protocol_error(format!("{what}: unknown status {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::test_support::*;

    const OMS_ID: &str = "cdf12109-10d3-11e6-8b6f-0050569977a1";
    const KEY: &str = "4344d884-7f23-4ea6-9f2b-b2ba4a4bbc5e";

    fn pending() -> PendingSignature {
        begin(
            "https://suz.test/api/v3",
            OMS_ID,
            KEY,
            "Moscow, 1 Red Square",
            start(),
        )
        .unwrap()
    }

    #[test]
    fn the_signed_body_is_sent_byte_for_byte() {
        let p = pending();
        assert_eq!(p.data(), br#"{"address":"Moscow, 1 Red Square"}"#);
        assert_eq!(p.kind(), SignatureKind::Detached);
        assert_eq!(p.flow(), None);
        let r = p.registration_request(Some(&detached_der())).unwrap();
        assert_method(&r, Method::Post, false);
        assert_eq!(
            render(&r),
            format!(
                "POST https://suz.test/api/v3/integration/connection?omsId={OMS_ID}\n\
                 X-RegistrationKey: {KEY}\nX-Signature: {DETACHED_B64}\n\
                 Content-Type: application/json;charset=UTF-8\n\n\
                 {{\"address\":\"Moscow, 1 Red Square\"}}"
            )
        );
    }

    #[test]
    fn a_413_for_the_signature_says_so_once() {
        let body =
            r#"{"success":false,"globalErrors":[{"error":"Неверная подпись","errorCode":413}]}"#;
        let e = parse(&answer(413, body)).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::PayloadTooLarge);
        let shown = e.to_string();
        assert!(
            shown.starts_with("the SUZ refused the registration's signature (HTTP 413)"),
            "{shown}"
        );
        assert_eq!(shown.matches("HTTP 413").count(), 1, "{shown}");
        assert!(shown.contains("Неверная подпись"), "{shown}");
        // Only a 413 about the signature says so.
        let too_large =
            r#"{"success":false,"globalErrors":[{"error":"body too large","errorCode":413}]}"#;
        let e = parse(&answer(413, too_large)).unwrap_err();
        assert!(e.message.starts_with("the server answered HTTP 413"), "{e}");
        let e = parse(&answer(400, body)).unwrap_err();
        assert!(e.message.starts_with("the server answered HTTP 400"), "{e}");
    }

    #[test]
    fn pharma_sends_no_signature_and_garbage_is_never_sent() {
        let r = pending().registration_request(None).unwrap();
        assert_eq!(r.header_value("X-Signature"), None);
        assert_eq!(r.header_value("X-RegistrationKey"), Some(KEY));
        let e = pending()
            .registration_request(Some(b"not a signature"))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SignerFailed);
        // Nor an attached signature over anything but the body; over the body, it is sent
        // detached.
        let e = pending()
            .registration_request(Some(&attached_der()))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SignerFailed);
        assert!(e.message.contains("other content"), "{e}");
        let p = pending();
        assert_eq!(
            p.registration_request(Some(&attached_over(p.data())))
                .unwrap(),
            p.registration_request(Some(&detached_der())).unwrap()
        );
    }

    #[test]
    fn inputs_are_checked_before_anything_is_built() {
        let e = begin("https://suz.test", "nope", KEY, "a", start()).unwrap_err();
        assert_eq!(e.message, "omsId must be a UUID, got \"nope\"");
        let e = begin("https://suz.test", OMS_ID, KEY, "  ", start()).unwrap_err();
        assert_eq!(e.message, "address must not be empty");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn success_gives_the_connection() {
        let r = answer(
            200,
            r#"{"status":"SUCCESS","omsConnection":"A1B2C3D4-0000-4000-8000-000000000001"}"#,
        );
        assert_eq!(parse(&r).unwrap(), "A1B2C3D4-0000-4000-8000-000000000001");
    }

    #[test]
    fn every_refusal_shape_is_typed() {
        assert_error(
            parse(&answer(
                200,
                r#"{"status":"REJECTED","rejectionReason":"Неверная подпись"}"#,
            )),
            ErrorKind::RegistrationRejected,
            Some(200),
            Some("REJECTED"),
            Some("Неверная подпись"),
        );
        assert_error(
            parse(&answer(
                400,
                r#"{"globalErrors":[{"error":"Неверный ключ регистрации","errorCode":1004}]}"#,
            )),
            ErrorKind::HttpClientError,
            Some(400),
            Some("1004"),
            Some("Неверный ключ регистрации"),
        );
        assert_error(
            parse(&answer(
                401,
                r#"{"code":"401","error_message":"X-Signature"}"#,
            )),
            ErrorKind::Unauthorized,
            Some(401),
            Some("401"),
            Some("X-Signature"),
        );
        let e = assert_error(
            parse(&html(502)),
            ErrorKind::HttpServerError,
            Some(502),
            None,
            None,
        );
        assert!(e.message.contains("HTML page"), "{e}");
        let e = assert_error(
            parse(&answer(200, r#"{"status":"WAITING"}"#)),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        assert_eq!(
            e.message,
            "installation registration: unknown status \"WAITING\""
        );
        let e = assert_error(
            parse(&answer(200, r#"{"status":"SUCCESS","omsConnection":"x"}"#)),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        assert!(e.message.contains("is not a UUID"), "{e}");
        assert_error(
            parse(&html(200)),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
    }
}
