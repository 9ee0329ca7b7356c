//! GIS MT and True API: a challenge (`{uuid, data}`), an attached signature of `data`, a token
//! that lives 10 hours. The two differ only in paths and True API's optional `inn`.

use super::{string_field, success_json, PendingSignature, Start, Step};
use crate::error::{Error, Result};
use crate::log::{log_at, Level};
use crate::signer::SignatureKind;
use crate::transport::{Method, Request, Response};
use crate::value::{Flow, Token};

/// Both services document a 10-hour token.
pub const TOKEN_LIFETIME_MS: i64 = 10 * 60 * 60 * 1000;

/// How a challenge flow signs in. Whether it names an installation follows from its
/// [`Kind`]: [`Kind::SuzChallenge`] does, [`Kind::SignedIn`] does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SignIn {
    /// Where the challenge is fetched (`GET`).
    key: &'static str,
    /// Where the signed challenge is sent (`POST`), before the installation if any.
    sign_in: &'static str,
    /// Whether the body may carry an `inn` (the organisation under a power of attorney).
    inn: bool,
    /// Whether the body asks for the united token (`"unitedToken": true`).
    united: bool,
}

/// Each challenge flow's sign-in; an error for the flows that have none.
fn sign_in(flow: Flow) -> Result<SignIn> {
    const GISMT: SignIn = SignIn {
        key: "/auth/cert/key",
        sign_in: "/auth/cert/",
        inn: false,
        united: false,
    };
    const TRUEAPI: SignIn = SignIn {
        key: "/auth/key",
        sign_in: "/auth/simpleSignIn/",
        inn: true,
        united: false,
    };
    Ok(match flow {
        Flow::Gismt => GISMT,
        // Without an installation: GIS MT's own token.
        Flow::GismtToken => GISMT,
        Flow::TrueApi => TRUEAPI,
        // Without an installation: the token is True API's own.
        Flow::TrueApiToken => SignIn {
            sign_in: "/auth/simpleSignIn",
            ..TRUEAPI
        },
        // True API's own sign-in asking for the united token.
        Flow::UnitedToken => SignIn {
            sign_in: "/auth/simpleSignIn",
            united: true,
            ..TRUEAPI
        },
        Flow::Mdlp | Flow::MdlpSession | Flow::SmartMarket => {
            return Err(Error::invalid_argument(format!(
                "{} is not a challenge flow",
                flow.name()
            )))
        }
    })
}

/// The sign-in path of `flow` for `oms_connection` (empty for a flow without an installation);
/// empty for a flow that is not a challenge flow.
pub(super) fn sign_in_path(flow: Flow, oms_connection: &str) -> String {
    sign_in(flow).map_or_else(
        |_| String::new(),
        |s| format!("{}{}", s.sign_in, oms_connection.trim()),
    )
}

/// Where the signed challenge of `flow` for `oms_connection` is sent, under `base_url`.
pub(super) fn sign_in_url(flow: Flow, base_url: &str, oms_connection: &str) -> Result<String> {
    sign_in(flow)?;
    Ok(format!("{base_url}{}", sign_in_path(flow, oms_connection)))
}

/// The inputs of a challenge flow, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeInputs {
    flow: Flow,
    base_url: String,
    oms_connection: String,
    inn: Option<String>,
}

impl ChallengeInputs {
    /// `base_url` is the GIS MT or True API base; `inn` (True API only) picks the organisation
    /// when the certificate covers several.
    pub fn new(
        flow: Flow,
        base_url: &str,
        oms_connection: &str,
        inn: Option<&str>,
    ) -> Result<ChallengeInputs> {
        let how = sign_in(flow)?;
        super::require_installation(flow, oms_connection)?;
        let inn = inn.map(str::trim);
        if let Some(inn) = inn {
            if !how.inn {
                return Err(Error::invalid_argument("only True API takes an inn"));
            }
            if !(inn.len() == 10 || inn.len() == 12) || !inn.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::invalid_argument(format!(
                    "inn must be 10 or 12 digits, got {inn:?}"
                )));
            }
        }
        Ok(ChallengeInputs {
            flow,
            base_url: base_url.to_owned(),
            oms_connection: oms_connection.trim().to_owned(),
            inn: inn.map(str::to_owned),
        })
    }

    /// Step one: `GET` the challenge (safe to repeat).
    pub fn key_request(&self) -> Request {
        let key_path = sign_in(self.flow).map_or("", |s| s.key);
        Request::new(Method::Get, format!("{}{key_path}", self.base_url))
    }

    /// The challenge from the answer to [`ChallengeInputs::key_request`]: `data` is what the
    /// host signs (attached).
    pub fn parse_key(&self, response: &Response, start: Start) -> Result<PendingSignature> {
        let what = format!("{} challenge", self.flow.name());
        let v = success_json(response, &what)?;
        let uuid = string_field(&v, "uuid", response, &what)?;
        let data = string_field(&v, "data", response, &what)?;
        let url = sign_in_url(self.flow, &self.base_url, &self.oms_connection)?;
        Ok(PendingSignature::new(
            data.into_bytes(),
            SignatureKind::Attached,
            Step::Challenge {
                flow: self.flow,
                url,
                connection: self.oms_connection.clone(),
                uuid,
                inn: self.inn.clone(),
            },
            start,
        ))
    }
}

/// Step two: the signed challenge. Never repeated: the server spends the challenge.
///
/// `signature` is standard base64 (what [`crate::signer::conform_signature`] returns), which
/// needs no JSON escaping: it is written as is, and only the short strings go through the JSON
/// encoder (a `serde_json::Value` would copy the signature and escape it byte by byte).
pub(super) fn sign_in_request(
    flow: Flow,
    url: &str,
    uuid: &str,
    inn: Option<&str>,
    signature: &str,
) -> Request {
    debug_assert!(signature
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')));
    // The members in the order they always had (alphabetical): the same bytes as before.
    let mut body = Vec::with_capacity(signature.len() + uuid.len() + 48);
    body.extend_from_slice(b"{\"data\":\"");
    body.extend_from_slice(signature.as_bytes());
    body.push(b'"');
    // Writing a string into a Vec cannot fail.
    if let Some(inn) = inn {
        body.extend_from_slice(b",\"inn\":");
        let _ = serde_json::to_writer(&mut body, inn);
    }
    if sign_in(flow).is_ok_and(|s| s.united) {
        body.extend_from_slice(b",\"unitedToken\":true");
    }
    body.extend_from_slice(b",\"uuid\":");
    let _ = serde_json::to_writer(&mut body, uuid);
    body.push(b'}');
    Request::new(Method::Post, url.to_owned()).public_json(body)
}

/// The token from a sign-in answer, read defensively: its value from `token`, `uuidToken` or
/// `clientToken` (whichever the answer has); its expiry from `expireDate` (RFC 3339, or a Unix
/// time), `exp` (Unix seconds), `expires_in` (seconds), `life_time` (minutes) or the JWT's own
/// `exp` claim, in that order, else 10 hours. Which one was used is logged at Debug.
pub fn parse_token(flow: Flow, response: &Response, now_ms: i64) -> Result<Token> {
    let what = format!("{} token", flow.name());
    let v = success_json(response, &what)?;
    let field = ["token", "uuidToken", "clientToken"]
        .into_iter()
        .find(|f| {
            v.get(*f)
                .is_some_and(|t| t.as_str().is_some_and(|t| !t.is_empty()))
        })
        .unwrap_or("token");
    let token = string_field(&v, field, response, &what)?;
    let (expires, source) = super::expiry::answer_expiry(&v, &token, now_ms)
        .unwrap_or((now_ms + TOKEN_LIFETIME_MS, "the 10-hour default"));
    log_at!(
        Level::Debug,
        "{what}: the value from `{field}`, the expiry from {source}"
    );
    super::minted(response, &what, token, flow, now_ms, expires)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::flows::test_support::*;
    use base64::Engine;
    use serde_json::{json, Value};

    fn inputs(flow: Flow, inn: Option<&str>) -> ChallengeInputs {
        ChallengeInputs::new(flow, "https://api.test/v3", CONN, inn).unwrap()
    }

    #[test]
    fn the_sign_in_body_is_json_with_the_signature_as_is() {
        for (uuid, inn) in [
            ("f1b2c3d4-0000-4000-8000-00000000000a", None),
            ("a \"quoted\" \\ uuid\n", Some("7701234567")),
        ] {
            let r = sign_in_request(Flow::TrueApi, "https://x/sign", uuid, inn, "MIIB+/a=");
            // Nothing secret in it: not wiped (every other body is, see `Request::body`).
            assert!(matches!(
                r.body,
                Some((_, crate::transport::Body::Public(_)))
            ));
            let body: Value = serde_json::from_slice(r.body_bytes()).unwrap();
            let mut expected = json!({"uuid": uuid, "data": "MIIB+/a="});
            if let Some(inn) = inn {
                expected["inn"] = json!(inn);
            }
            assert_eq!(body, expected);
        }
    }

    const CHALLENGE: &str = r#"{"uuid":"f1b2c3d4-0000-4000-8000-00000000000a","data":"ZKTYWXSNLHBNLQLYOIJVIVRZCZWPMU"}"#;

    #[test]
    fn gismt_request_bytes() {
        let i = inputs(Flow::Gismt, None);
        let key = i.key_request();
        assert_method(&key, Method::Get, true);
        assert_eq!(render(&key), "GET https://api.test/v3/auth/cert/key\n");
        let p = i.parse_key(&answer(200, CHALLENGE), start()).unwrap();
        assert_eq!(p.data(), b"ZKTYWXSNLHBNLQLYOIJVIVRZCZWPMU");
        assert_eq!(p.kind(), SignatureKind::Attached);
        assert_eq!(p.flow(), Some(Flow::Gismt));
        // An attached signature over other bytes than the challenge is refused.
        let e = p.token_request(&attached_der()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SignerFailed);
        assert!(e.message.contains("other content"), "{e}");
        let attached = attached_b64_over(p.data());
        let r = p.token_request(&attached_over(p.data())).unwrap();
        assert_method(&r, Method::Post, false);
        assert_eq!(
            render(&r),
            format!(
                "POST https://api.test/v3/auth/cert/{CONN}\n\
                 Content-Type: application/json;charset=UTF-8\n\n\
                 {{\"data\":\"{attached}\",\"uuid\":\"f1b2c3d4-0000-4000-8000-00000000000a\"}}"
            )
        );
        // A detached signature (what 1C makes) gets the challenge embedded: the same request.
        assert_eq!(p.token_request(&detached_der()).unwrap(), r);
    }

    #[test]
    fn trueapi_request_bytes_with_inn() {
        let i = inputs(Flow::TrueApi, Some(" 7700000000 "));
        assert_eq!(
            render(&i.key_request()),
            "GET https://api.test/v3/auth/key\n"
        );
        let p = i.parse_key(&answer(200, CHALLENGE), start()).unwrap();
        let attached = attached_b64_over(p.data());
        let r = p
            .token_request(format!("\r\n{attached}\r\n").as_bytes())
            .unwrap();
        assert_eq!(
            render(&r),
            format!(
                "POST https://api.test/v3/auth/simpleSignIn/{CONN}\n\
                 Content-Type: application/json;charset=UTF-8\n\n\
                 {{\"data\":\"{attached}\",\"inn\":\"7700000000\",\
                 \"uuid\":\"f1b2c3d4-0000-4000-8000-00000000000a\"}}"
            )
        );
    }

    #[test]
    fn inputs_are_checked() {
        let e = ChallengeInputs::new(Flow::TrueApi, "u", CONN, Some("12345")).unwrap_err();
        assert_eq!(e.message, "inn must be 10 or 12 digits, got \"12345\"");
        let e = ChallengeInputs::new(Flow::Gismt, "u", CONN, Some("7700000000")).unwrap_err();
        assert_eq!(e.message, "only True API takes an inn");
        let e = ChallengeInputs::new(Flow::Gismt, "u", "x", None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(ChallengeInputs::new(Flow::Mdlp, "u", CONN, None).is_err());
    }

    #[test]
    fn tokens_and_their_expiry() {
        let t = parse_token(Flow::Gismt, &answer(200, r#"{"token":"0a1b"}"#), NOW).unwrap();
        assert_eq!(t.value(), "0a1b");
        assert_eq!(t.expires_at_ms(), NOW + 36_000_000);
        // {"exp":1700003600}
        let jwt = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDM2MDB9.sig";
        let body = format!(r#"{{"token":"{jwt}"}}"#);
        let t = parse_token(Flow::TrueApi, &answer(200, &body), NOW).unwrap();
        assert_eq!(t.expires_at_ms(), 1_700_003_600_000);
        assert_eq!(t.flow(), Flow::TrueApi);
        // {"exp":1000000000}: too early to be a Unix time, so the documented 10 hours apply.
        let jwt = "eyJhbGciOiJub25lIn0.eyJleHAiOjEwMDAwMDAwMDB9.sig";
        let body = format!(r#"{{"token":"{jwt}"}}"#);
        let t = parse_token(Flow::TrueApi, &answer(200, &body), NOW).unwrap();
        assert_eq!(t.expires_at_ms(), NOW + TOKEN_LIFETIME_MS);
        // An absurd `exp` (here 9e15 s) is refused, not a token cached as fresh forever.
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":9000000000000000}"#);
        let body = format!(r#"{{"token":"eyJhbGciOiJub25lIn0.{payload}.sig"}}"#);
        let e = parse_token(Flow::TrueApi, &answer(200, &body), NOW).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
        assert!(e.message.contains("lifetime"), "{e}");
    }

    #[test]
    fn error_shapes() {
        let i = inputs(Flow::Gismt, None);
        assert_error(
            i.parse_key(&answer(503, r#"{"error_message":"maintenance"}"#), start()),
            ErrorKind::HttpServerError,
            Some(503),
            None,
            Some("maintenance"),
        );
        let e = assert_error(
            i.parse_key(&answer(200, r#"{"uuid":"u"}"#), start()),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        assert_eq!(e.message, "gismt challenge: the answer has no `data`");
        assert_error(
            parse_token(
                Flow::TrueApi,
                &answer(403, r#"{"code":2,"error_message":"Ошибка авторизации"}"#),
                NOW,
            ),
            ErrorKind::Unauthorized,
            Some(403),
            Some("2"),
            Some("Ошибка авторизации"),
        );
        assert_error(
            parse_token(
                Flow::Gismt,
                &answer(429, r#"{"code":"429","message":"too many"}"#),
                NOW,
            ),
            ErrorKind::TooManyRequests,
            Some(429),
            Some("429"),
            Some("too many"),
        );
        let e = assert_error(
            parse_token(Flow::Gismt, &html(200), NOW),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        assert!(e.message.contains("not JSON"), "{e}");
        let e = parse_token(Flow::Gismt, &answer(200, "[1]"), NOW).unwrap_err();
        assert_eq!(
            e.message,
            "gismt token: the answer is JSON but not an object"
        );
    }

    #[test]
    fn true_apis_own_token_is_signed_in_without_an_installation() {
        let i = ChallengeInputs::new(
            Flow::TrueApiToken,
            "https://api.test/v3/true-api",
            "",
            Some("7707083893"),
        )
        .unwrap();
        assert_eq!(i.key_request().url, "https://api.test/v3/true-api/auth/key");
        let p = i.parse_key(&answer(200, CHALLENGE), start()).unwrap();
        let r = p.token_request(&attached_over(p.data())).unwrap();
        assert_eq!(r.url, "https://api.test/v3/true-api/auth/simpleSignIn");
        let body: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
        assert_eq!(body["inn"], "7707083893");
        assert_eq!(p.flow(), Some(Flow::TrueApiToken));
        // An installation is refused: the token is True API's own.
        let e = ChallengeInputs::new(Flow::TrueApiToken, "https://x", CONN, None).unwrap_err();
        assert!(e.message.contains("without an installation"), "{e}");
        // The other flows still need one.
        assert!(ChallengeInputs::new(Flow::TrueApi, "https://x", "", None).is_err());
    }

    #[test]
    fn the_united_token_asks_for_it_in_true_apis_own_sign_in() {
        let i = ChallengeInputs::new(
            Flow::UnitedToken,
            "https://api.test/v3/true-api",
            "",
            Some("7707083893"),
        )
        .unwrap();
        assert_eq!(
            render(&i.key_request()),
            "GET https://api.test/v3/true-api/auth/key\n"
        );
        let p = i.parse_key(&answer(200, CHALLENGE), start()).unwrap();
        assert_eq!(p.flow(), Some(Flow::UnitedToken));
        assert_eq!(p.kind(), SignatureKind::Attached);
        let attached = attached_b64_over(p.data());
        let r = p.token_request(&attached_over(p.data())).unwrap();
        assert_eq!(
            render(&r),
            format!(
                "POST https://api.test/v3/true-api/auth/simpleSignIn\n\
                 Content-Type: application/json;charset=UTF-8\n\n\
                 {{\"data\":\"{attached}\",\"inn\":\"7707083893\",\"unitedToken\":true,\
                 \"uuid\":\"f1b2c3d4-0000-4000-8000-00000000000a\"}}"
            )
        );
        // The other sign-ins do not ask for it.
        for flow in [
            Flow::TrueApiToken,
            Flow::TrueApi,
            Flow::Gismt,
            Flow::GismtToken,
        ] {
            let r = sign_in_request(flow, "https://x/sign", "u", None, "MIIB");
            assert!(!render(&r).contains("unitedToken"), "{flow:?}");
        }
        let e = ChallengeInputs::new(Flow::UnitedToken, "https://x", CONN, None).unwrap_err();
        assert_eq!(
            e.message,
            "the united_token token is signed in without an installation (no omsConnection)"
        );
    }

    #[test]
    fn gis_mts_own_token_is_signed_in_at_auth_cert_without_an_installation() {
        let i = ChallengeInputs::new(Flow::GismtToken, "https://api.test/v3", " ", None).unwrap();
        assert_eq!(
            render(&i.key_request()),
            "GET https://api.test/v3/auth/cert/key\n"
        );
        let p = i.parse_key(&answer(200, CHALLENGE), start()).unwrap();
        let attached = attached_b64_over(p.data());
        let r = p.token_request(&attached_over(p.data())).unwrap();
        assert_eq!(
            render(&r),
            format!(
                "POST https://api.test/v3/auth/cert/\n\
                 Content-Type: application/json;charset=UTF-8\n\n\
                 {{\"data\":\"{attached}\",\"uuid\":\"f1b2c3d4-0000-4000-8000-00000000000a\"}}"
            )
        );
        // GIS MT takes no inn, and its own token no installation.
        let e = ChallengeInputs::new(Flow::GismtToken, "u", "", Some("7707083893")).unwrap_err();
        assert_eq!(e.message, "only True API takes an inn");
        assert!(ChallengeInputs::new(Flow::GismtToken, "u", CONN, None).is_err());
        // The flows that are not challenge flows have no sign-in.
        for flow in [Flow::Mdlp, Flow::SmartMarket] {
            assert_eq!(sign_in_path(flow, CONN), "");
            assert!(sign_in_url(flow, "https://x", CONN).is_err());
        }
        assert_eq!(
            sign_in_path(Flow::Gismt, &format!(" {CONN} ")),
            format!("/auth/cert/{CONN}")
        );
        assert_eq!(
            sign_in_url(Flow::TrueApi, "https://x", CONN).unwrap(),
            format!("https://x/auth/simpleSignIn/{CONN}")
        );
    }

    #[test]
    fn every_reported_answer_shape_is_read() {
        let two_hours = 2 * 3600 * 1000;
        for (body, value, expires) in [
            (json!({"token": "t1"}), "t1", NOW + TOKEN_LIFETIME_MS),
            (
                json!({"uuidToken": "t2", "expireDate": "2023-11-15T03:13:20.000+03:00"}),
                "t2",
                NOW + two_hours,
            ),
            (
                json!({"uuidToken": "t3", "expireDate": "2023-11-15T00:13:20Z"}),
                "t3",
                NOW + two_hours,
            ),
            (
                json!({"uuidToken": "t4", "expireDate": "2023-11-15 03:13:20.5"}),
                "t4",
                NOW + two_hours + 500,
            ),
            (
                json!({"clientToken": "t5", "expires_in": 7200}),
                "t5",
                NOW + two_hours,
            ),
            (
                json!({"token": "t6", "exp": 1_700_007_200}),
                "t6",
                NOW + two_hours,
            ),
            (
                json!({"token": "t7", "life_time": 120}),
                "t7",
                NOW + two_hours,
            ),
            (
                json!({"token": "t8", "expireDate": 1_700_007_200_000_i64}),
                "t8",
                NOW + two_hours,
            ),
        ] {
            let t = parse_token(Flow::TrueApiToken, &answer(200, &body.to_string()), NOW)
                .unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(t.value(), value, "{body}");
            assert_eq!(t.expires_at_ms(), expires, "{body}");
        }
        // A date that is not one is not trusted: the other forms, then the default.
        for bad in ["tomorrow", "2023-13-15T00:13:20Z", "2023-11-15T00:13", ""] {
            let body = json!({"uuidToken": "t", "expireDate": bad});
            let t = parse_token(Flow::TrueApiToken, &answer(200, &body.to_string()), NOW).unwrap();
            assert_eq!(t.expires_at_ms(), NOW + TOKEN_LIFETIME_MS, "{bad}");
        }
    }

    #[test]
    fn the_signing_certificate_is_checked_before_anything_is_sent() {
        // Valid 2020-01-01 to 2021-01-01; ИНН 007707083893, ИНН ЮЛ 7707083893.
        let signature: &[u8] = include_bytes!("../../testdata/gost-inn-attached.p7s");
        let pending = |inn: &str| {
            ChallengeInputs::new(Flow::TrueApiToken, "https://x", "", Some(inn))
                .unwrap()
                .parse_key(&answer(200, CHALLENGE), start())
                .unwrap()
        };
        let may_2020 = 1_590_000_000_000;
        let own = pending("7707083893");
        let c = own.signer_certificate(signature, may_2020, true).unwrap();
        assert_eq!(c.unwrap().inn_le.as_deref(), Some("7707083893"));
        let e = own
            .signer_certificate(signature, 1_700_000_000_000, false)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SignerFailed);
        assert!(
            e.message
                .contains("expired on 2021-01-01: nothing was sent"),
            "{e}"
        );
        assert!(e.message.contains("Иванов Иван"), "{e}");
        let e = own
            .signer_certificate(signature, 1_500_000_000_000, false)
            .unwrap_err();
        assert!(e.message.contains("not valid until 2020-01-01"), "{e}");
        // Another organisation's INN: a warning, or with `strict_inn` an error naming both.
        let other = pending("5003052454");
        assert!(other
            .signer_certificate(signature, may_2020, false)
            .unwrap()
            .is_some());
        let e = other
            .signer_certificate(signature, may_2020, true)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SignerFailed);
        assert!(
            e.message.contains("inn 5003052454")
                && e.message.contains("ИНН ЮЛ 7707083893")
                && e.message.contains("strict_inn"),
            "{e}"
        );
        // A certificate naming no INN is not compared; a signature without one is not checked.
        let no_inn = crate::cms::test_support::GOST_ATTACHED;
        assert!(other
            .signer_certificate(no_inn, 2_000_000_000_000, true)
            .unwrap()
            .is_some());
        assert!(other
            .signer_certificate(&detached_der(), 2_000_000_000_000, true)
            .is_ok());
    }
}
