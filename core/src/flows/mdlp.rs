//! MDLP (pharma): `POST {mdlp}/auth` for a code, then `POST {mdlp}/token/{omsConnection}` (a
//! SUZ token, `Flow::Mdlp`) or `POST {mdlp}/token` (MDLP's own session, `Flow::MdlpSession`) with
//! either a detached signature of the code (`SIGNED_CODE`) or a password (`PASSWORD`). The
//! token's lifetime is the answer's `life_time`, in minutes.

use std::fmt;

use serde_json::json;
use zeroize::Zeroizing;

use super::{
    number_field, require_installation, require_text, require_uuid, string_field, success_json,
    PendingSignature, Start, Step,
};
use crate::error::{Error, Result};
use crate::signer::SignatureKind;
use crate::transport::{Method, Request, Response};
use crate::value::{Flow, Kind, Token};

/// The MDLP account: `client_id` and `client_secret` of the accounting system, and `user_id`
/// (certificate serial or SHA1 thumbprint for residents, e-mail for non-residents).
#[derive(Clone)]
pub struct MdlpCredentials {
    /// The accounting system's `client_id` (a UUID).
    pub client_id: String,
    /// The accounting system's `client_secret`; wiped on drop.
    pub client_secret: Zeroizing<String>,
    /// The user: certificate serial or SHA1 thumbprint (residents), e-mail (non-residents).
    pub user_id: String,
}

impl MdlpCredentials {
    /// Credentials from their parts; the secret is copied into memory wiped on drop.
    pub fn new(client_id: &str, client_secret: &str, user_id: &str) -> Self {
        MdlpCredentials {
            client_id: client_id.to_owned(),
            client_secret: Zeroizing::new(client_secret.to_owned()),
            user_id: user_id.to_owned(),
        }
    }
}

impl fmt::Debug for MdlpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MdlpCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// How the code is turned into a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthType {
    /// A detached signature of the code (residents).
    SignedCode,
    /// A password (non-residents).
    Password,
}

impl AuthType {
    fn wire_name(self) -> &'static str {
        match self {
            AuthType::SignedCode => "SIGNED_CODE",
            AuthType::Password => "PASSWORD",
        }
    }
}

/// Step one: ask for a code, for `flow` (`Mdlp` for the installation `oms_connection`,
/// `MdlpSession` for none). The body holds the client secret: it is wiped on drop.
pub fn code_request(
    flow: Flow,
    mdlp_url: &str,
    oms_connection: &str,
    creds: &MdlpCredentials,
    auth: AuthType,
) -> Result<Request> {
    require_mdlp(flow)?;
    require_installation(flow, oms_connection)?;
    require_uuid(&creds.client_id, "MDLP client_id")?;
    require_text(&creds.client_secret, "MDLP client_secret")?;
    require_text(&creds.user_id, "MDLP user_id")?;
    let body = serde_json::to_vec(&json!({
        "client_id": creds.client_id.trim(),
        "client_secret": creds.client_secret.as_str(),
        "user_id": creds.user_id.trim(),
        "auth_type": auth.wire_name(),
    }))
    .map_err(|e| Error::invalid_argument(e.to_string()))?;
    Ok(Request::new(Method::Post, format!("{mdlp_url}/auth"))
        .json(body)
        .secret(&creds.client_secret))
}

/// The code from the answer to [`code_request`].
pub fn parse_code(response: &Response) -> Result<String> {
    let what = "MDLP auth";
    let v = success_json(response, what)?;
    string_field(&v, "code", response, what)
}

/// `SIGNED_CODE`, between the phases: the code to sign (detached).
pub fn pending(
    flow: Flow,
    mdlp_url: &str,
    oms_connection: &str,
    code: String,
    start: Start,
) -> PendingSignature {
    PendingSignature::new(
        code.clone().into_bytes(),
        SignatureKind::Detached,
        Step::Mdlp {
            flow,
            url: token_url(flow, mdlp_url, oms_connection),
            connection: oms_connection.trim().to_owned(),
            code,
        },
        start,
    )
}

/// `PASSWORD`: the token request with the password (wiped on drop).
pub fn password_request(
    flow: Flow,
    mdlp_url: &str,
    oms_connection: &str,
    code: &str,
    password: &str,
) -> Result<Request> {
    require_text(password, "MDLP password")?;
    let body = serde_json::to_vec(&json!({ "code": code, "password": password }))
        .map_err(|e| Error::invalid_argument(e.to_string()))?;
    Ok(
        Request::new(Method::Post, token_url(flow, mdlp_url, oms_connection))
            .json(body)
            .secret(password),
    )
}

/// The token path of `flow`: `/token/{omsConnection}` for a SUZ token, `/token` for MDLP's
/// own session.
pub(super) fn token_path(flow: Flow, oms_connection: &str) -> String {
    match flow.kind() {
        Kind::MdlpSession => "/token".to_owned(),
        Kind::SuzMdlp | Kind::SuzChallenge | Kind::SignedIn | Kind::OAuth => {
            format!("/token/{}", oms_connection.trim())
        }
    }
}

pub(super) fn token_url(flow: Flow, mdlp_url: &str, oms_connection: &str) -> String {
    format!("{mdlp_url}{}", token_path(flow, oms_connection))
}

/// Refuses a flow that is not MDLP's.
fn require_mdlp(flow: Flow) -> Result<()> {
    match flow.kind() {
        Kind::SuzMdlp | Kind::MdlpSession => Ok(()),
        Kind::SuzChallenge | Kind::SignedIn | Kind::OAuth => Err(Error::invalid_argument(format!(
            "{} is not an MDLP flow",
            flow.name()
        ))),
    }
}

pub(super) fn signed_code_request(url: &str, code: &str, signature: &str) -> Request {
    let body = json!({ "code": code, "signature": signature }).to_string();
    Request::new(Method::Post, url.to_owned()).json(body.into_bytes())
}

/// The token of `flow`, which lives `life_time` minutes (a number, or a number in a string).
pub fn parse_token(flow: Flow, response: &Response, now_ms: i64) -> Result<Token> {
    let what = "MDLP token";
    let v = success_json(response, what)?;
    let token = string_field(&v, "token", response, what)?;
    let minutes = number_field(&v, "life_time")
        .filter(|m| m.is_finite() && *m > 0.0)
        .ok_or_else(|| {
            response.protocol_error(format!("{what}: the answer has no valid `life_time`"))
        })?;
    // `as` saturates; the sum saturates too, and `minted` refuses the result.
    let expires = now_ms.saturating_add((minutes * 60_000.0) as i64);
    super::minted(response, what, token, flow, now_ms, expires)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::flows::test_support::*;

    const CLIENT_ID: &str = "7df0d06f-6510-44fe-a378-76cb53e2605f";

    fn creds() -> MdlpCredentials {
        MdlpCredentials::new(CLIENT_ID, "s3cret", "7FA9D6AA0FD7E4C2")
    }

    #[test]
    fn code_request_bytes() {
        for (auth, name) in [
            (AuthType::SignedCode, "SIGNED_CODE"),
            (AuthType::Password, "PASSWORD"),
        ] {
            let r =
                code_request(Flow::Mdlp, "https://mdlp.test/api/v1", CONN, &creds(), auth).unwrap();
            assert_method(&r, Method::Post, false);
            assert_eq!(
                render(&r),
                format!(
                    "POST https://mdlp.test/api/v1/auth\n\
                     Content-Type: application/json;charset=UTF-8\n\n\
                     {{\"auth_type\":\"{name}\",\"client_id\":\"{CLIENT_ID}\",\
                     \"client_secret\":\"s3cret\",\"user_id\":\"7FA9D6AA0FD7E4C2\"}}"
                )
            );
            assert!(
                !format!("{r:?}").contains("s3cret"),
                "Debug shows the secret"
            );
        }
        assert_eq!(
            format!("{:?}", creds()),
            format!(
                "MdlpCredentials {{ client_id: \"{CLIENT_ID}\", client_secret: \"***\", \
                 user_id: \"7FA9D6AA0FD7E4C2\" }}"
            )
        );
        let e = code_request(
            Flow::Mdlp,
            "u",
            CONN,
            &MdlpCredentials::new("x", "s", "u"),
            AuthType::Password,
        )
        .unwrap_err();
        assert_eq!(e.message, "MDLP client_id must be a UUID, got \"x\"");
    }

    #[test]
    fn signed_code_phase_two_bytes() {
        let p = pending(
            Flow::Mdlp,
            "https://mdlp.test/api/v1",
            CONN,
            "c0de-1".into(),
            start(),
        );
        assert_eq!(p.data(), b"c0de-1");
        assert_eq!(p.kind(), SignatureKind::Detached);
        assert_eq!(p.flow(), Some(Flow::Mdlp));
        let e = p.token_request(&attached_der()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SignerFailed);
        assert!(e.message.contains("other content"), "{e}");
        let r = p.token_request(&detached_der()).unwrap();
        // An attached signature over the code has the code removed: the same request.
        assert_eq!(p.token_request(&attached_over(b"c0de-1")).unwrap(), r);
        assert_method(&r, Method::Post, false);
        assert_eq!(
            render(&r),
            format!(
                "POST https://mdlp.test/api/v1/token/{CONN}\n\
                 Content-Type: application/json;charset=UTF-8\n\n\
                 {{\"code\":\"c0de-1\",\"signature\":\"{DETACHED_B64}\"}}"
            )
        );
        assert!(p.registration_request(None).is_err());
    }

    #[test]
    fn password_request_bytes() {
        let r =
            password_request(Flow::Mdlp, "https://mdlp.test/api/v1", CONN, "c0de-1", "pw").unwrap();
        assert_eq!(
            render(&r),
            format!(
                "POST https://mdlp.test/api/v1/token/{CONN}\n\
                 Content-Type: application/json;charset=UTF-8\n\n\
                 {{\"code\":\"c0de-1\",\"password\":\"pw\"}}"
            )
        );
        // The password is in the body: wiped on drop.
        assert!(matches!(
            r.body,
            Some((_, crate::transport::Body::Secret(_)))
        ));
        assert!(password_request(Flow::Mdlp, "u", CONN, "c", "").is_err());
    }

    #[test]
    fn answers() {
        assert_eq!(
            parse_code(&answer(200, r#"{"code":"abc"}"#)).unwrap(),
            "abc"
        );
        for body in [
            r#"{"token":"t","life_time":30}"#,
            r#"{"token":"t","life_time":"30"}"#,
        ] {
            let t = parse_token(Flow::Mdlp, &answer(200, body), NOW).unwrap();
            assert_eq!(t.value(), "t");
            assert_eq!(t.flow(), Flow::Mdlp);
            assert_eq!(t.obtained_at_ms(), NOW);
            assert_eq!(t.expires_at_ms(), NOW + 30 * 60_000);
        }
        let t = parse_token(
            Flow::Mdlp,
            &answer(200, r#"{"token":"t","life_time":0.5}"#),
            NOW,
        )
        .unwrap();
        assert_eq!(t.expires_at_ms(), NOW + 30_000);
        // Absurd lifetimes: a protocol error, never a token fresh forever (nor a panic).
        for life in ["1e300", "\"1e300\"", "99999999999", "1000000"] {
            let body = format!(r#"{{"token":"t","life_time":{life}}}"#);
            let e = parse_token(Flow::Mdlp, &answer(200, &body), NOW).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Protocol, "{life}: {e}");
            assert!(e.message.contains("lifetime"), "{life}: {e}");
        }
    }

    #[test]
    fn error_shapes() {
        assert_error(
            parse_code(&answer(
                400,
                r#"{"error_code":"7","error_description":"unknown client_id"}"#,
            )),
            ErrorKind::HttpClientError,
            Some(400),
            Some("7"),
            Some("unknown client_id"),
        );
        assert_error(
            parse_token(
                Flow::Mdlp,
                &answer(
                    401,
                    r#"{"code":"4","error_message":"bad","description":"signature"}"#,
                ),
                NOW,
            ),
            ErrorKind::Unauthorized,
            Some(401),
            Some("4"),
            Some("bad: signature"),
        );
        let e = assert_error(
            parse_token(Flow::Mdlp, &answer(200, r#"{"token":"t"}"#), NOW),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        assert_eq!(e.message, "MDLP token: the answer has no valid `life_time`");
        assert_error(
            parse_token(
                Flow::Mdlp,
                &answer(200, r#"{"token":"t","life_time":0}"#),
                NOW,
            ),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        let e = assert_error(
            parse_token(
                Flow::Mdlp,
                &answer(200, r#"{"token":"","life_time":30}"#),
                NOW,
            ),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        assert_eq!(e.message, "MDLP token: the answer has no `token`");
        assert_error(
            parse_token(
                Flow::Mdlp,
                &answer(200, r#"{"token":"t","life_time":-1}"#),
                NOW,
            ),
            ErrorKind::Protocol,
            Some(200),
            None,
            None,
        );
        let e = assert_error(
            parse_code(&answer(200, r#"{"description":"try later"}"#)),
            ErrorKind::Protocol,
            Some(200),
            None,
            Some("try later"),
        );
        assert_eq!(
            e.message,
            "MDLP auth: the answer has no `code` (server says: try later)"
        );
        assert_error(
            parse_code(&html(503)),
            ErrorKind::HttpServerError,
            Some(503),
            None,
            None,
        );
    }

    #[test]
    fn an_mdlp_session_asks_for_its_code_the_same_way_and_sends_it_to_token() {
        let url = "https://mdlp.test/api/v1";
        let r = code_request(Flow::MdlpSession, url, "", &creds(), AuthType::Password).unwrap();
        assert_eq!(r.url, "https://mdlp.test/api/v1/auth");
        // No installation for a session, and one for a SUZ token.
        let e =
            code_request(Flow::MdlpSession, url, CONN, &creds(), AuthType::Password).unwrap_err();
        assert!(e.message.contains("without an installation"), "{e}");
        assert!(code_request(Flow::Mdlp, url, "", &creds(), AuthType::Password).is_err());
        assert!(code_request(Flow::Gismt, url, CONN, &creds(), AuthType::Password).is_err());
        let r = password_request(Flow::MdlpSession, url, "", "c0de", "pw").unwrap();
        assert_eq!(r.url, "https://mdlp.test/api/v1/token");
        let p = pending(Flow::MdlpSession, url, "", "c0de".into(), start());
        assert_eq!(p.flow(), Some(Flow::MdlpSession));
        let signed = p.token_request(&detached_der()).unwrap();
        assert_eq!(signed.url, "https://mdlp.test/api/v1/token");
        let t = parse_token(
            Flow::MdlpSession,
            &answer(200, r#"{"token":"s3ss","life_time":30}"#),
            NOW,
        )
        .unwrap();
        assert_eq!(
            (t.flow(), t.expires_at_ms()),
            (Flow::MdlpSession, NOW + 1_800_000)
        );
    }
}
