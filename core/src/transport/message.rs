//! What crosses the wire: a [`Request`] a flow builds, the [`Response`] it parses, and the
//! mapping of a non-2xx answer onto an error with the server's own code and text.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method named by `s`, in any case; an invalid-argument error for any other name.
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

    /// The method's name in upper case, as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A request's body: wiped on drop unless it was set as public (a signed challenge, a
/// signature: nothing secret, and wiping a few kilobytes on every sign-in has a cost).
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    /// May hold a secret (a client secret, a password): wiped on drop.
    Secret(Zeroizing<Vec<u8>>),
    /// Holds nothing secret.
    Public(Vec<u8>),
}

impl Body {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Body::Secret(b) => b,
            Body::Public(b) => b,
        }
    }
}

/// One request, built by a flow and sent by the [`Transport`](super::Transport). It owns its
/// header values and body, which may hold secrets (Basic auth, an MDLP secret or password):
/// both are wiped on drop and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The HTTP method.
    pub method: Method,
    /// The full URL, query included.
    pub url: String,
    /// Header names and values, in the order they are sent.
    pub headers: Vec<(&'static str, Zeroizing<String>)>,
    /// Content type and bytes.
    pub body: Option<(&'static str, Body)>,
    /// Safe to send again after a failure (see [`crate::config::RetryPolicy`]).
    pub repeatable: bool,
    /// The RqUID sent, reported with any error.
    pub rquid: Option<String>,
    /// Values this request carries that no message may show (see [`Request::secret`]).
    pub secrets: Secrets,
}

/// Secret values (a client secret, a password, Basic credentials, a token) that are cut out of
/// every text a server sends back before it reaches an error message: a gateway that echoes
/// the request must not put them in a log. Shorter values than four characters are not
/// tracked (they would blank out ordinary words).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(std::sync::Arc<Vec<Zeroizing<String>>>);

impl Secrets {
    /// Adds a value.
    pub fn add(&mut self, value: &str) {
        if value.chars().count() >= 4 && !self.0.iter().any(|s| s.as_str() == value) {
            // Shared by the request's answer and errors (a clone is a count, not a copy).
            let values = std::sync::Arc::make_mut(&mut self.0);
            values.push(Zeroizing::new(value.to_owned()));
            // Longest first, so a value containing another is cut whole.
            values.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every secret value replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        self.0
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "***"))
    }

    /// The error with its message and server fields scrubbed.
    pub fn scrub_error(&self, mut e: Error) -> Error {
        if self.0.is_empty() {
            return e;
        }
        e.message = self.scrub(&e.message);
        e.server_message = e.server_message.map(|m| self.scrub(&m));
        e.server_code = e.server_code.map(|m| self.scrub(&m));
        e
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Request {
    /// A request with no headers and no body; repeatable only if it is a `GET`.
    pub fn new(method: Method, url: String) -> Self {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
            repeatable: method == Method::Get,
            rquid: None,
            secrets: Secrets::default(),
        }
    }

    /// Adds a header (after any already set, including one of the same name).
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, Zeroizing::new(value.into())));
        self
    }

    /// The value of a header set on this request.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets a JSON body (`application/json;charset=UTF-8`).
    pub fn json(self, body: Vec<u8>) -> Self {
        self.body("application/json;charset=UTF-8", body)
    }

    /// Sets the body and its content type, replacing any previous body. It is wiped on drop.
    pub fn body(mut self, content_type: &'static str, body: Vec<u8>) -> Self {
        self.body = Some((content_type, Body::Secret(Zeroizing::new(body))));
        self
    }

    /// Sets a JSON body that holds nothing secret (not wiped on drop).
    pub fn public_json(mut self, body: Vec<u8>) -> Self {
        self.body = Some(("application/json;charset=UTF-8", Body::Public(body)));
        self
    }

    /// Records a value this request carries that must never appear in a message, in every form
    /// the request carries it (e.g. the client secret, and the Basic credentials made of it).
    pub fn secret(mut self, value: &str) -> Self {
        self.secrets.add(value);
        self
    }

    /// Sets the `RqUID` header and records it for error reports.
    pub fn rquid(mut self, rquid: String) -> Self {
        self.headers.push(("RqUID", Zeroizing::new(rquid.clone())));
        self.rquid = Some(rquid);
        self
    }

    /// The same request with a new `RqUID` (in the same format), for a retry: the services
    /// define it as unique per request. `None` when the request has no `RqUID`.
    pub fn with_new_rquid(&self) -> Option<Request> {
        let old = self.rquid.as_deref()?;
        let id = crate::random::uuid();
        let fresh = if old.contains('-') {
            id.hyphenated().to_string()
        } else {
            id.simple().to_string()
        };
        let mut next = self.clone();
        for (name, value) in &mut next.headers {
            if name.eq_ignore_ascii_case("RqUID") {
                *value = Zeroizing::new(fresh.clone());
            }
        }
        next.rquid = Some(fresh);
        Some(next)
    }

    /// Sets whether the request may be sent again after a failure.
    pub fn repeatable(mut self, repeatable: bool) -> Self {
        self.repeatable = repeatable;
        self
    }

    /// The body bytes (empty when there is none).
    pub fn body_bytes(&self) -> &[u8] {
        self.body.as_ref().map(|(_, b)| b.as_slice()).unwrap_or(&[])
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_len", &self.body_bytes().len())
            .field("repeatable", &self.repeatable)
            .finish()
    }
}

/// An answer's headers, names in lower case, in the order received: one buffer for them all
/// (an answer's dozen headers are not two dozen allocations).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    text: String,
    /// Where each header's name ends and its value ends in `text`; its name starts where the
    /// previous value ended.
    ends: Vec<(usize, usize)>,
}

impl Headers {
    /// Room for `count` headers of `bytes` bytes in all.
    pub fn with_capacity(count: usize, bytes: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    /// Adds a header; its name is kept in lower case.
    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        self.text[start..].make_ascii_lowercase();
        let name_end = self.text.len();
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len()));
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Header number `index` (from 0): name and value.
    pub fn get(&self, index: usize) -> Option<(&str, &str)> {
        let &(name_end, end) = self.ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i].1);
        Some((&self.text[start..name_end], &self.text[name_end..end]))
    }

    /// Every header, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(name, _)| name))
            .finish()
    }
}

/// A complete answer, whatever its status. `Debug` shows no body (it may hold a token).
#[derive(Clone)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Header names (in lower case) and values, as received.
    pub headers: Headers,
    /// The body bytes (at most 4 MiB; a larger answer is a protocol error).
    pub body: Vec<u8>,
    /// The `RqUID` of the attempt that got this answer (each retry sends a new one).
    pub rquid: Option<String>,
    /// The request's secret values, cut out of any error made from this answer.
    pub secrets: Secrets,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Response {
    /// An answer with a JSON body (for tests of the flows, which need no server).
    pub fn json_answer(status: u16, body: &str) -> Response {
        let mut headers = Headers::default();
        headers.push("content-type", "application/json");
        Response {
            status,
            headers,
            body: body.as_bytes().to_vec(),
            rquid: None,
            secrets: Secrets::default(),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The answer itself when it is a 2xx, else the error it stands for.
    pub fn success(&self) -> Result<&Response> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(status_error(self))
        }
    }

    /// The answer's body as text with the request's secrets cut out (for messages).
    pub fn scrubbed_text(&self) -> String {
        self.secrets.scrub(&String::from_utf8_lossy(&self.body))
    }

    /// The value of the first header with this name (case-insensitive); `None` when there is none.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
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
                describe_body(self.scrubbed_text().as_bytes(), self.header("content-type"))
            ))),
        }
    }

    /// A protocol error with `message` and this answer's HTTP status.
    pub fn protocol_error(&self, message: String) -> Error {
        let mut e = Error::protocol(self.secrets.scrub(&message));
        e.http_status = Some(self.status);
        e
    }
}

/// The longest `Retry-After` taken as given: a day. A larger value (or one too large for a
/// number) is reported as a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After` in delta-seconds form (what the services send), at most [`MAX_RETRY_AFTER`];
/// an HTTP date is ignored.
pub fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// The error for a non-2xx answer: its kind by status, and the status. The transport knows
/// HTTP only; what a service's error body says is read in the flows (see
/// `crate::flows::envelope`), which give it to [`status_error_with`].
pub fn status_error(response: &Response) -> Error {
    status_error_with(response, None, None)
}

/// [`status_error`] with the server's own code and text, as the service's flow read them; the
/// message describes the body when there is no text to show.
pub fn status_error_with(
    response: &Response,
    server_code: Option<String>,
    server_message: Option<String>,
) -> Error {
    let status = response.status;
    let kind = match status {
        401 | 403 => ErrorKind::Unauthorized,
        413 => ErrorKind::PayloadTooLarge,
        429 => ErrorKind::TooManyRequests,
        400..=499 => ErrorKind::HttpClientError,
        500..=599 => ErrorKind::HttpServerError,
        _ => ErrorKind::Protocol,
    };
    let text = response.scrubbed_text();
    let mut message = format!("the server answered HTTP {status}");
    if server_message.is_none() && !response.body.is_empty() {
        message.push_str(&format!(
            " ({})",
            describe_body(text.as_bytes(), response.header("content-type"))
        ));
    }
    let mut e = Error::new(kind, message);
    e.http_status = Some(status);
    e.server_code = server_code;
    e.server_message = server_message;
    e.retry_after = retry_after(response);
    e
}

/// A short, safe description of an unexpected body for error messages.
pub(crate) fn describe_body(body: &[u8], content_type: Option<&str>) -> String {
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

    #[test]
    fn headers_keep_order_and_lower_case_names_in_one_buffer() {
        let mut h = Headers::with_capacity(3, 40);
        h.push("Content-Type", "application/json");
        h.push("X-Empty", "");
        h.push("Retry-After", "7");
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(0), Some(("content-type", "application/json")));
        assert_eq!(h.get(1), Some(("x-empty", "")));
        assert_eq!(h.get(2), Some(("retry-after", "7")));
        assert_eq!(h.get(3), None);
        let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["content-type", "x-empty", "retry-after"]);
        assert_eq!(
            format!("{h:?}"),
            r#"["content-type", "x-empty", "retry-after"]"#
        );
        let mut r = Response::json_answer(200, "{}");
        r.headers = h;
        assert_eq!(r.header("RETRY-AFTER"), Some("7"));
        assert_eq!(r.header("x-empty"), Some(""));
    }

    #[test]
    fn retry_after_is_bounded() {
        let with = |v: &str| {
            let mut r = Response::json_answer(429, "{}");
            r.headers.push("Retry-After", v);
            retry_after(&r)
        };
        assert_eq!(with("7"), Some(Duration::from_secs(7)));
        assert_eq!(with("99999999999999999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(with("18446744073709551615"), Some(MAX_RETRY_AFTER));
        assert_eq!(with("-5"), None);
        assert_eq!(with("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn statuses_map_to_kinds_and_empty_fields_are_absent() {
        let kind = |status| status_error(&Response::json_answer(status, "{}")).kind;
        assert_eq!(kind(401), ErrorKind::Unauthorized);
        assert_eq!(kind(403), ErrorKind::Unauthorized);
        assert_eq!(kind(413), ErrorKind::PayloadTooLarge);
        assert_eq!(kind(429), ErrorKind::TooManyRequests);
        assert_eq!(kind(404), ErrorKind::HttpClientError);
        assert_eq!(kind(502), ErrorKind::HttpServerError);
        assert_eq!(kind(302), ErrorKind::Protocol);
        // A body without the server's text is described in the message.
        let e = status_error(&Response::json_answer(500, "oops"));
        assert_eq!(
            e.message,
            "the server answered HTTP 500 (4 bytes starting \"oops\")"
        );
        let e = status_error(&Response::json_answer(500, ""));
        assert_eq!(e.message, "the server answered HTTP 500");
    }

    #[test]
    fn debug_shows_no_secret_and_no_body() {
        let r = Request::new(Method::Post, "https://x/y".into())
            .header("Authorization", "Basic c2VjcmV0")
            .json(b"{\"password\":\"pw\"}".to_vec());
        assert_eq!(
            format!("{r:?}"),
            "Request { method: Post, url: \"https://x/y\", headers: [\"Authorization\"], body_len: 17, repeatable: false }"
        );
        let a = Response::json_answer(200, r#"{"token":"secret-token"}"#);
        assert_eq!(
            format!("{a:?}"),
            "Response { status: 200, headers: 1, body_len: 24 }"
        );
    }

    #[test]
    fn html_is_described_not_dumped() {
        let d = describe_body(b"<html><body>502</body></html>", Some("text/html"));
        assert!(d.contains("HTML page"), "{d}");
    }
}
