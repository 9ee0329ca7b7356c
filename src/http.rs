//! The HTTP transport: one pooled agent per client, a deadline per call, retries that are safe,
//! and the mapping of every failure onto an [`ErrorKind`] with the server's own error fields.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::config::{Config, TrustRoots};
use crate::error::{Error, ErrorKind, Result};

/// Answers larger than this are a protocol error; every answer of these APIs is small.
const MAX_BODY: u64 = 4 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn parse(s: &str) -> Result<Method> {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Ok(Method::Get),
            "POST" => Ok(Method::Post),
            "PUT" => Ok(Method::Put),
            "PATCH" => Ok(Method::Patch),
            "DELETE" => Ok(Method::Delete),
            other => Err(Error::invalid_argument(format!(
                "unsupported HTTP method {other:?}"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One request. Header values that are secrets are marked so they never reach an error text.
pub struct Request<'a> {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<(&'static str, &'a [u8])>,
    /// Safe to send again after a failure (see [`crate::config::RetryPolicy`]).
    pub repeatable: bool,
    /// The RqUID sent, reported with any error.
    pub rquid: Option<String>,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, url: String) -> Self {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
            repeatable: method == Method::Get,
            rquid: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn json(mut self, body: &'a [u8]) -> Self {
        self.body = Some(("application/json;charset=UTF-8", body));
        self
    }

    pub fn rquid(mut self, rquid: String) -> Self {
        self.headers.push(("RqUID", rquid.clone()));
        self.rquid = Some(rquid);
        self
    }
}

/// A complete answer, whatever its status.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as a JSON object, or a protocol error that says what came instead.
    pub fn json(&self, what: &str) -> Result<Value> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => {
                Err(self.protocol_error(format!("{what}: the answer is JSON but not an object")))
            }
            Err(_) => Err(self.protocol_error(format!(
                "{what}: the answer is not JSON ({})",
                describe_body(&self.body, self.header("content-type"))
            ))),
        }
    }

    pub fn protocol_error(&self, message: String) -> Error {
        let mut e = Error::protocol(message);
        e.http_status = Some(self.status);
        e
    }
}

/// The transport shared by every call of one client.
pub struct Transport {
    agent: ureq::Agent,
    total: Duration,
    retry: crate::config::RetryPolicy,
}

impl Transport {
    pub fn new(config: &Config) -> Result<Transport> {
        let roots = match &config.extra_roots_pem {
            None => match config.trust_roots {
                TrustRoots::Platform => RootCerts::PlatformVerifier,
                TrustRoots::WebPki => RootCerts::WebPki,
            },
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    Error::config(format!(
                        "config key `tls.extra_roots_pem`: cannot read {}: {e}",
                        path.display()
                    ))
                })?;
                let mut certs: Vec<Certificate<'static>> = Vec::new();
                for item in ureq::tls::parse_pem(&pem) {
                    match item {
                        Ok(PemItem::Certificate(c)) => certs.push(c),
                        Ok(_) => {}
                        Err(e) => {
                            return Err(Error::config(format!(
                                "config key `tls.extra_roots_pem`: {}: {e}",
                                path.display()
                            )))
                        }
                    }
                }
                if certs.is_empty() {
                    return Err(Error::config(format!(
                        "config key `tls.extra_roots_pem`: no certificate in {}",
                        path.display()
                    )));
                }
                match config.trust_roots {
                    TrustRoots::Platform => {
                        let native = rustls_native_certs::load_native_certs();
                        certs.extend(
                            native
                                .certs
                                .iter()
                                .map(|c| Certificate::from_der(c.as_ref()).to_owned()),
                        );
                    }
                    TrustRoots::WebPki => certs.extend(
                        webpki_root_certs::TLS_SERVER_ROOT_CERTS
                            .iter()
                            .map(|c| Certificate::from_der(c.as_ref()).to_owned()),
                    ),
                }
                RootCerts::from(certs)
            }
        };
        let proxy = match config.proxy.as_deref() {
            None => None,
            Some("env") => ureq::Proxy::try_from_env(),
            Some(url) => Some(
                ureq::Proxy::new(url)
                    .map_err(|e| Error::config(format!("config key `proxy`: {e}")))?,
            ),
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(false)
            .proxy(proxy)
            .user_agent(config.user_agent.as_str())
            .accept("application/json")
            .max_redirects(0)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.total_timeout))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .new_agent();
        Ok(Transport {
            agent,
            total: config.total_timeout,
            retry: config.retry.clone(),
        })
    }

    /// The deadline of a call that starts now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.total
    }

    /// Sends a request, retrying what is safe to retry, and returns the answer whatever its
    /// status. Errors are transport failures only.
    pub fn send(&self, request: &Request<'_>, deadline: Instant) -> Result<Response> {
        let mut attempt = 1;
        let mut pause = self.retry.backoff;
        loop {
            let result = self.send_once(request, deadline);
            let retry_in = match &result {
                _ if !request.repeatable || attempt >= self.retry.max_attempts => None,
                Ok(r) if matches!(r.status, 429 | 502 | 503 | 504) => match retry_after(r) {
                    Some(after) if after > self.retry.max_retry_after => None,
                    Some(after) => Some(after),
                    None => Some(pause),
                },
                Err(e) if e.kind == ErrorKind::Connect => Some(pause),
                _ => None,
            };
            match retry_in {
                Some(wait) if Instant::now() + wait < deadline => {
                    std::thread::sleep(wait);
                    attempt += 1;
                    pause = pause.saturating_mul(2);
                }
                _ => return result,
            }
        }
    }

    /// Sends a request and turns any non-2xx answer into an error carrying the server's fields.
    pub fn send_ok(&self, request: &Request<'_>, deadline: Instant) -> Result<Response> {
        let response = self
            .send(request, deadline)
            .map_err(|e| e.with_rquid(request.rquid.as_deref()))?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(status_error(&response).with_rquid(request.rquid.as_deref()))
        }
    }

    fn send_once(&self, request: &Request<'_>, deadline: Instant) -> Result<Response> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::new(
                ErrorKind::Timeout,
                "the call's total timeout ran out before the request was sent",
            ));
        }
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let body: &[u8] = match request.body {
            Some((content_type, body)) => {
                builder = builder.header("Content-Type", content_type);
                body
            }
            None => &[],
        };
        let http_request = builder.body(body).map_err(|e| {
            Error::invalid_argument(format!("cannot build a request to {}: {e}", request.url))
        })?;
        let what = format!("{} {}", request.method.as_str(), strip_query(&request.url));
        let configured = self
            .agent
            .configure_request(http_request)
            .timeout_global(Some(remaining))
            .build();
        let mut response = self
            .agent
            .run(configured)
            .map_err(|e| transport_error(e, &what, false))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .reader()
            .read_to_end(&mut body)
            .map_err(|e| {
                let mut err = match ureq_error_in(&e) {
                    Some(inner) => transport_error_ref(inner, &what, true),
                    None => Error::protocol(format!(
                        "{what}: the answer's body was cut short or unreadable ({e})"
                    )),
                };
                err.http_status = Some(status);
                err
            })?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn ureq_error_in(e: &std::io::Error) -> Option<&ureq::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn transport_error(e: ureq::Error, what: &str, in_body: bool) -> Error {
    transport_error_ref(&e, what, in_body)
}

fn transport_error_ref(e: &ureq::Error, what: &str, in_body: bool) -> Error {
    use ureq::Error as U;
    let (kind, text) = match e {
        U::Timeout(t) => (ErrorKind::Timeout, format!("timed out ({t:?})")),
        U::HostNotFound => (ErrorKind::Connect, "host not found".to_owned()),
        U::ConnectionFailed => (ErrorKind::Connect, "connection failed".to_owned()),
        U::InvalidProxyUrl => (ErrorKind::Config, "invalid proxy URL".to_owned()),
        U::BadUri(u) => (ErrorKind::InvalidArgument, format!("bad URL {u}")),
        U::Tls(t) => (ErrorKind::Tls, format!("TLS error: {t}")),
        U::Pem(p) => (ErrorKind::Tls, format!("TLS certificate error: {p}")),
        U::Rustls(r) => (ErrorKind::Tls, format!("TLS error: {r}")),
        U::BodyExceedsLimit(n) => (
            ErrorKind::Protocol,
            format!("the answer is larger than {n} bytes"),
        ),
        U::Protocol(p) => (ErrorKind::Protocol, format!("malformed HTTP answer: {p}")),
        U::Io(io) => return io_error(io, what, in_body),
        other => (ErrorKind::Connect, other.to_string()),
    };
    Error::new(kind, format!("{what}: {text}"))
}

fn io_error(io: &std::io::Error, what: &str, in_body: bool) -> Error {
    use std::io::ErrorKind as K;
    if let Some(inner) = io.get_ref() {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Error::new(ErrorKind::Tls, format!("{what}: TLS error: {tls}"));
        }
        if let Some(u) = inner.downcast_ref::<ureq::Error>() {
            return transport_error_ref(u, what, in_body);
        }
    }
    let kind = match io.kind() {
        K::TimedOut | K::WouldBlock => ErrorKind::Timeout,
        _ if in_body => ErrorKind::Protocol,
        _ => ErrorKind::Connect,
    };
    let text = match io.kind() {
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => {
            "the connection was closed before a complete answer".to_owned()
        }
        _ => io.to_string(),
    };
    Error::new(kind, format!("{what}: {text}"))
}

/// `Retry-After` in delta-seconds form (what the services send); an HTTP date is ignored.
pub fn retry_after(response: &Response) -> Option<Duration> {
    response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The error for a non-2xx answer: kind by status, plus the server's code and text from
/// whichever error shape the service uses.
pub fn status_error(response: &Response) -> Error {
    let status = response.status;
    let kind = match status {
        401 | 403 => ErrorKind::Unauthorized,
        413 => ErrorKind::PayloadTooLarge,
        429 => ErrorKind::TooManyRequests,
        400..=499 => ErrorKind::HttpClientError,
        500..=599 => ErrorKind::HttpServerError,
        _ => ErrorKind::Protocol,
    };
    let (server_code, server_message) = match serde_json::from_slice::<Value>(&response.body) {
        Ok(v) => server_error_fields(&v),
        Err(_) => (None, None),
    };
    let mut message = format!("the server answered HTTP {status}");
    if server_message.is_none() && !response.body.is_empty() {
        message.push_str(&format!(
            " ({})",
            describe_body(&response.body, response.header("content-type"))
        ));
    }
    let mut e = Error::new(kind, message);
    e.http_status = Some(status);
    e.server_code = server_code;
    e.server_message = server_message;
    e.retry_after = retry_after(response);
    e
}

/// Reads the error code and text out of every error shape the CRPT and Sber services use:
/// `{code,error_message,description}`, `{error_code,error_description}`,
/// `{globalErrors:[{error,errorCode}]}`, `{code,message}`, `{errors:[{key,message}]}`.
pub fn server_error_fields(v: &Value) -> (Option<String>, Option<String>) {
    fn text(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    if let Some(first) = v
        .get("globalErrors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let message = text(first.get("error")).or_else(|| text(first.get("message")));
        return (text(first.get("errorCode")), message);
    }
    if let Some(first) = v
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return (
            text(first.get("key")).or_else(|| text(v.get("code"))),
            text(first.get("message")),
        );
    }
    if v.get("error_code").is_some() || v.get("error_description").is_some() {
        return (text(v.get("error_code")), text(v.get("error_description")));
    }
    let code = text(v.get("code")).or_else(|| text(v.get("error")));
    let message = match (text(v.get("error_message")), text(v.get("description"))) {
        (Some(m), Some(d)) if m != d => Some(format!("{m}: {d}")),
        (Some(m), _) => Some(m),
        (None, Some(d)) => Some(d),
        (None, None) => text(v.get("message")).or_else(|| text(v.get("error_description"))),
    };
    (code, message)
}

/// A short, safe description of an unexpected body for error messages.
fn describe_body(body: &[u8], content_type: Option<&str>) -> String {
    if body.is_empty() {
        return "empty body".to_owned();
    }
    let text = String::from_utf8_lossy(body);
    let looks_html =
        content_type.is_some_and(|c| c.contains("html")) || text.trim_start().starts_with('<');
    if looks_html {
        return format!(
            "an HTML page of {} bytes, likely from a proxy or gateway",
            body.len()
        );
    }
    let snippet: String = text.chars().take(120).filter(|c| !c.is_control()).collect();
    format!("{} bytes starting {snippet:?}", body.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_error_shape_is_read() {
        let cases = [
            (
                json!({"code":"4","error_message":"bad","description":"signature"}),
                "4",
                "bad: signature",
            ),
            (
                json!({"error_code":"7","error_description":"no such code"}),
                "7",
                "no such code",
            ),
            (
                json!({"globalErrors":[{"error":"revoked","errorCode":401}]}),
                "401",
                "revoked",
            ),
            (
                json!({"code":"SCOPE_DATA_FORMAT_INVALID","message":"scope"}),
                "SCOPE_DATA_FORMAT_INVALID",
                "scope",
            ),
            (
                json!({"code":401,"errors":[{"key":"UNAUTHORIZED","message":"exp"}]}),
                "UNAUTHORIZED",
                "exp",
            ),
        ];
        for (body, code, message) in cases {
            let (c, m) = server_error_fields(&body);
            assert_eq!(c.as_deref(), Some(code), "{body}");
            assert_eq!(m.as_deref(), Some(message), "{body}");
        }
    }

    #[test]
    fn html_is_described_not_dumped() {
        let d = describe_body(b"<html><body>502</body></html>", Some("text/html"));
        assert!(d.contains("HTML page"), "{d}");
    }
}
