//! Sber SmartMarket: OAuth `access_token` (Basic auth, a fresh `RqUID`, form `scope`) and the
//! SmartPush `apprequest` call that uses it.

use base64::Engine;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{number_field, require_text, string_field, success_json};
use crate::error::{Error, Result};
use crate::transport::{Method, Request, Response};
use crate::value::{Flow, Token};

pub use crate::config::DEFAULT_SMARTMARKET_SCOPE as DEFAULT_SCOPE;

/// The OAuth request. `scope` `None` means [`DEFAULT_SCOPE`]. Safe to repeat: a second call
/// only mints another token, and the first stays valid.
pub fn token_request(
    smartmarket_url: &str,
    client_id: &str,
    client_secret: &str,
    scope: Option<&str>,
    rquid: String,
) -> Result<Request> {
    require_text(client_id, "SmartMarket client_id")?;
    require_text(client_secret, "SmartMarket client_secret")?;
    if client_id.contains(':') {
        return Err(Error::invalid_argument(
            "SmartMarket client_id must not contain ':' (Basic auth joins id and secret with it)",
        ));
    }
    let scope = scope.unwrap_or(DEFAULT_SCOPE).trim();
    if scope.is_empty() || scope.chars().any(char::is_control) {
        return Err(Error::invalid_argument(format!(
            "scope must be a non-empty printable string, got {scope:?}"
        )));
    }
    let credentials = Zeroizing::new(format!("{client_id}:{client_secret}"));
    let basic = Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials.as_bytes())
    ));
    let form = format!("scope={}", form_encode(scope));
    Ok(
        Request::new(Method::Post, format!("{smartmarket_url}/api/v2/oauth"))
            .header("Authorization", basic.as_str())
            .secret(client_secret)
            .secret(&credentials)
            .secret(&basic["Basic ".len()..])
            .rquid(rquid)
            .body("application/x-www-form-urlencoded", form.into_bytes())
            .repeatable(true),
    )
}

/// The token from the OAuth answer; `expires_at` may be absolute milliseconds, absolute
/// seconds, or a lifetime in seconds.
pub fn parse_token(response: &Response, now_ms: i64) -> Result<Token> {
    let what = "SmartMarket OAuth";
    let v = success_json(response, what)?;
    let token = string_field(&v, "access_token", response, what)?;
    let expires = number_field(&v, "expires_at")
        .and_then(|raw| expires_at_ms(raw, now_ms))
        .ok_or_else(|| {
            response.protocol_error(format!("{what}: the answer has no valid `expires_at`"))
        })?;
    super::minted(response, what, token, Flow::SmartMarket, now_ms, expires)
}

/// The SmartPush `apprequest` call: `body_json` is the whole request body
/// (`{"requestPayload": {...}}`).
pub fn smartpush_request(
    smartmarket_url: &str,
    access_token: &str,
    body_json: &str,
    rquid: String,
) -> Result<Request> {
    require_text(access_token, "access_token")?;
    match serde_json::from_str::<Value>(body_json) {
        Ok(Value::Object(_)) => {}
        _ => {
            return Err(Error::invalid_argument(
                "the SmartPush body must be a JSON object such as {\"requestPayload\": {}}",
            ))
        }
    }
    Ok(Request::new(
        Method::Post,
        format!("{smartmarket_url}/api/v2/smartpush/apprequest"),
    )
    .header("Authorization", format!("Bearer {access_token}"))
    .rquid(rquid)
    .json(body_json.as_bytes().to_vec()))
}

/// The SmartPush answer's JSON text. The service may report a failure inside a 200 body,
/// `{"code": 401, "errors": [...]}`: that is returned as the error it names.
pub fn parse_smartpush(response: &Response) -> Result<String> {
    let v = success_json(response, "SmartPush")?;
    if let Some(code) = v.get("code").and_then(Value::as_u64).filter(|c| *c >= 400) {
        if v.get("errors").is_some() {
            let inner = Response {
                status: u16::try_from(code).unwrap_or(599),
                ..response.clone()
            };
            return Err(super::envelope::refusal(&inner));
        }
    }
    Ok(String::from_utf8_lossy(&response.body).into_owned())
}

/// `expires_at` as absolute Unix ms. The documentation calls it seconds but its example
/// (`1617814516729`) is absolute milliseconds, so: above 10^11 it is absolute ms; above 10^9
/// absolute seconds; anything smaller is a lifetime in seconds from now.
pub(crate) fn expires_at_ms(raw: f64, now_ms: i64) -> Option<i64> {
    if !raw.is_finite() || raw <= 0.0 {
        return None;
    }
    Some(if raw >= 1e11 {
        raw as i64
    } else if raw >= 1e9 {
        (raw * 1000.0) as i64
    } else {
        // `as` saturates; the sum saturates too, and `minted` refuses the result.
        now_ms.saturating_add((raw * 1000.0) as i64)
    })
}

fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::flows::test_support::*;

    const RQUID: &str = "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e";

    #[test]
    fn oauth_request_bytes() {
        let r = token_request("https://sber.test", "id", "secret", None, RQUID.into()).unwrap();
        assert_method(&r, Method::Post, true);
        // base64("id:secret") = aWQ6c2VjcmV0
        assert_eq!(
            render(&r),
            format!(
                "POST https://sber.test/api/v2/oauth\nAuthorization: Basic aWQ6c2VjcmV0\n\
                 RqUID: {RQUID}\nContent-Type: application/x-www-form-urlencoded\n\n\
                 scope=SMART_PUSH"
            )
        );
        assert_eq!(r.rquid.as_deref(), Some(RQUID));
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("aWQ6c2VjcmV0") && !shown.contains("secret"),
            "{shown}"
        );
        let r = token_request("u", "id", "s", Some("A B&C"), RQUID.into()).unwrap();
        assert_eq!(r.body_bytes(), b"scope=A+B%26C");
    }

    #[test]
    fn oauth_inputs_are_checked() {
        let e = token_request("u", "a:b", "s", None, RQUID.into()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(token_request("u", "id", "", None, RQUID.into()).is_err());
        assert!(token_request("u", "id", "s", Some("\n"), RQUID.into()).is_err());
    }

    #[test]
    fn oauth_answers() {
        let t = parse_token(
            &answer(
                200,
                r#"{"access_token":"eyJ.a.b","expires_at":1700003600000}"#,
            ),
            NOW,
        )
        .unwrap();
        assert_eq!(t.value(), "eyJ.a.b");
        assert_eq!(t.expires_at_ms(), 1_700_003_600_000);
        // An expiry in the past, absurdly far, or too large for a number: never a forever-token.
        for expires in ["1617814516729", "1e300", "99999999999999999999", "8000000"] {
            let body = format!(r#"{{"access_token":"x","expires_at":{expires}}}"#);
            let e = assert_error(
                parse_token(&answer(200, &body), NOW),
                ErrorKind::Protocol,
                Some(200),
                None,
                None,
            );
            assert!(e.message.contains("lifetime"), "{expires}: {e}");
        }
        // A token that would inject headers, or carries NUL, or is too long.
        for token in ["a\\r\\nX-Evil: 1", "a\\u0000b", "a b", &"x".repeat(9000)] {
            let body = format!(r#"{{"access_token":"{token}","expires_at":3600}}"#);
            let e = assert_error(
                parse_token(&answer(200, &body), NOW),
                ErrorKind::Protocol,
                Some(200),
                None,
                None,
            );
            assert!(!e.message.contains("X-Evil"), "{e}");
            assert!(e.message.contains("it was not used"), "{e}");
        }
        assert_eq!(t.flow(), Flow::SmartMarket);
        let e = assert_error(
            parse_token(&answer(200, r#"{"access_token":"x"}"#), NOW),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        assert_eq!(
            e.message,
            "SmartMarket OAuth: the answer has no valid `expires_at`"
        );
        assert_error(
            parse_token(
                &answer(
                    401,
                    r#"{"code":6,"message":"credentials doesn't match db data"}"#,
                ),
                NOW,
            ),
            ErrorKind::Unauthorized,
            Some(401),
            Some("6"),
            Some("credentials doesn't match db data"),
        );
        assert_error(
            parse_token(
                &answer(
                    400,
                    r#"{"code":"SCOPE_DATA_FORMAT_INVALID","message":"scope"}"#,
                ),
                NOW,
            ),
            ErrorKind::HttpClientError,
            Some(400),
            Some("SCOPE_DATA_FORMAT_INVALID"),
            Some("scope"),
        );
    }

    #[test]
    fn expires_at_in_ms_seconds_or_lifetime() {
        assert_eq!(expires_at_ms(1617814516729.0, NOW), Some(1617814516729));
        assert_eq!(expires_at_ms(1617814516.0, NOW), Some(1617814516000));
        assert_eq!(expires_at_ms(1800.0, NOW), Some(NOW + 1_800_000));
        assert_eq!(expires_at_ms(0.0, NOW), None);
        assert_eq!(expires_at_ms(f64::NAN, NOW), None);
    }

    #[test]
    fn smartpush_request_and_answers() {
        let body = r#"{"requestPayload":{"x":1}}"#;
        let r = smartpush_request("https://sber.test", "tok", body, RQUID.into()).unwrap();
        assert_method(&r, Method::Post, false);
        assert_eq!(
            render(&r),
            format!(
                "POST https://sber.test/api/v2/smartpush/apprequest\nAuthorization: Bearer tok\n\
                 RqUID: {RQUID}\nContent-Type: application/json;charset=UTF-8\n\n{body}"
            )
        );
        assert!(smartpush_request("u", "tok", "[1]", RQUID.into()).is_err());
        assert_eq!(
            parse_smartpush(&answer(200, r#"{"payload":{}}"#)).unwrap(),
            r#"{"payload":{}}"#
        );
        assert_error(
            parse_smartpush(&answer(
                200,
                r#"{"code":401,"errors":[{"key":"UNAUTHORIZED","message":"exp"}]}"#,
            )),
            ErrorKind::Unauthorized,
            Some(401),
            Some("UNAUTHORIZED"),
            Some("exp"),
        );
        assert_error(
            parse_smartpush(&answer(
                500,
                r#"{"code":500,"errors":[{"key":"X","message":"down"}]}"#,
            )),
            ErrorKind::HttpServerError,
            Some(500),
            Some("X"),
            Some("down"),
        );
    }
}
