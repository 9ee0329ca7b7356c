//! Calls to the protected APIs with a token: `clientToken` for SUZ, `Authorization: Bearer`
//! for True API, and `Authorization: Bearer` with a fresh `RqUID` for SmartMarket.

use crate::error::{Error, Result};
use crate::transport::{Method, Request};

/// How a call carries its token.
#[derive(Debug)]
#[non_exhaustive]
pub enum Auth<'a> {
    /// SUZ: the `clientToken` header; `oms_id` is added as the `omsId` query parameter when
    /// the path has none.
    Suz {
        /// The SUZ token, sent as the `clientToken` header.
        token: &'a str,
        /// The SUZ instance's `omsId`; `None` adds no query parameter.
        oms_id: Option<&'a str>,
    },
    /// True API and GIS MT: `Authorization: Bearer` with the service's own token.
    TrueApi {
        /// The service's token, sent as `Authorization: Bearer <token>`.
        token: &'a str,
    },
    /// MDLP: `Authorization: token <token>` with an MDLP session.
    Mdlp {
        /// The MDLP session token.
        token: &'a str,
    },
    /// SmartMarket: `Authorization: Bearer` and a fresh `RqUID`.
    Bearer {
        /// The SmartMarket access token, sent as `Authorization: Bearer <token>`.
        token: &'a str,
        /// The `RqUID` header value for this call.
        rquid: String,
    },
}

/// An authorized call to `path` (relative to the API's base URL, starting with `/`). Only a
/// `GET` is repeatable after a failure: other calls may have effects.
pub fn request(
    base_url: &str,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<&[u8]>,
) -> Result<Request> {
    check_path(path)?;
    let mut url = format!("{base_url}{path}");
    let request = match auth {
        Auth::Suz { token, oms_id } => {
            if let Some(oms_id) = oms_id {
                if !path.contains("omsId=") {
                    url.push(if path.contains('?') { '&' } else { '?' });
                    url.push_str("omsId=");
                    url.push_str(oms_id);
                }
            }
            Request::new(method, url)
                .header("clientToken", token)
                .secret(token)
        }
        Auth::TrueApi { token } => Request::new(method, url)
            .header("Authorization", format!("Bearer {token}"))
            .secret(token),
        Auth::Mdlp { token } => Request::new(method, url)
            .header("Authorization", format!("token {token}"))
            .secret(token),
        Auth::Bearer { token, rquid } => Request::new(method, url)
            .header("Authorization", format!("Bearer {token}"))
            .secret(token)
            .rquid(rquid),
    };
    Ok(match body {
        Some(body) => request.json(body.to_vec()),
        None => request,
    })
}

/// A call's path must be relative to the API's base URL: checked before any token is fetched.
pub fn check_path(path: &str) -> Result<()> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "path must start with '/', got {path:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::test_support::*;

    const OMS_ID: &str = "cdf12109-10d3-11e6-8b6f-0050569977a1";

    #[test]
    fn suz_calls_carry_client_token_and_oms_id() {
        let auth = || Auth::Suz {
            token: "t0k",
            oms_id: Some(OMS_ID),
        };
        let r = request(
            "https://suz.test",
            Method::Get,
            "/api/v2/pharma/ping",
            auth(),
            None,
        )
        .unwrap();
        assert_method(&r, Method::Get, true);
        assert_eq!(
            render(&r),
            format!("GET https://suz.test/api/v2/pharma/ping?omsId={OMS_ID}\nclientToken: t0k\n")
        );
        let r = request("u", Method::Get, "/a?x=1", auth(), None).unwrap();
        assert_eq!(r.url, format!("u/a?x=1&omsId={OMS_ID}"));
        let r = request("u", Method::Get, "/a?omsId=other", auth(), None).unwrap();
        assert_eq!(r.url, "u/a?omsId=other");
        let r = request("u", Method::Post, "/a", auth(), Some(b"{}")).unwrap();
        assert_eq!(r.body_bytes(), b"{}");
        assert!(request("u", Method::Get, "a", auth(), None).is_err());
    }

    #[test]
    fn smartmarket_calls_carry_bearer_and_rquid() {
        let auth = Auth::Bearer {
            token: "t0k",
            rquid: "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e".into(),
        };
        let r = request("https://sber.test", Method::Post, "/x", auth, Some(b"{}")).unwrap();
        assert_eq!(
            render(&r),
            "POST https://sber.test/x\nAuthorization: Bearer t0k\n\
             RqUID: 6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e\n\
             Content-Type: application/json;charset=UTF-8\n\n{}"
        );
    }

    #[test]
    fn true_api_gis_mt_and_mdlp_calls_carry_their_own_authorization() {
        for (auth, header) in [
            (Auth::TrueApi { token: "t0k" }, "Authorization: Bearer t0k"),
            (Auth::Mdlp { token: "t0k" }, "Authorization: token t0k"),
        ] {
            let r = request("https://api.test", Method::Get, "/x?a=1", auth, None).unwrap();
            assert_method(&r, Method::Get, true);
            assert_eq!(
                render(&r),
                format!("GET https://api.test/x?a=1\n{header}\n")
            );
            // The token is a secret: kept out of Debug and errors.
            assert!(!format!("{r:?}").contains("t0k"), "{r:?}");
        }
    }
}
