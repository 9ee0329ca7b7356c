//! The HTTP transport: one pooled agent per client, a deadline per call, retries that are safe,
//! and the mapping of every transport failure onto an [`ErrorKind`]. What a request holds and
//! what an answer means is in [`message`]; the transport only carries them.

mod message;
mod resolve;

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use message::{
    retry_after, server_error_fields, status_error, Body, Method, Request, Response, Secrets,
};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::config::{Config, TrustRoots};
use crate::error::{Error, ErrorKind, Result};

/// Answers larger than this are a protocol error; every answer of these APIs is small.
const MAX_BODY: u64 = 4 * 1024 * 1024;

/// The transport shared by every call of one client.
pub struct Transport {
    agent: ureq::Agent,
    total: Duration,
    connect: Duration,
    retry: crate::config::RetryPolicy,
    /// The proxy URL's user and password, cut out of every message.
    proxy_secrets: Secrets,
}

impl Transport {
    /// The transport a configuration describes: trust roots, proxy, user agent, timeouts and retry
    /// policy. An unreadable `tls.extra_roots_pem` or a bad proxy URL is a config error.
    pub fn new(config: &Config) -> Result<Transport> {
        let roots = match &config.extra_roots_pem {
            None => match config.trust_roots {
                TrustRoots::Platform => RootCerts::PlatformVerifier,
                TrustRoots::WebPki => RootCerts::from(webpki_roots()),
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
                    TrustRoots::WebPki => certs.extend(webpki_roots()),
                }
                RootCerts::from(certs)
            }
        };
        let proxy = match config.proxy.as_deref() {
            None => None,
            Some("env") => ureq::Proxy::try_from_env(),
            Some(url) => Some(ureq::Proxy::new(url).map_err(|e| {
                let text = e.to_string().replace(url, &crate::config::redact_url(url));
                Error::config(format!("config key `proxy`: {text}"))
            })?),
        };
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(false)
            .proxy(proxy)
            .user_agent(config.user_agent.as_str())
            .accept("application/json")
            .max_redirects(0)
            // Every answer here is a small JSON document: buffers of 16 KiB (they grow when an
            // answer's head needs more) instead of 128 KiB zeroed per connection.
            .input_buffer_size(16 * 1024)
            .output_buffer_size(16 * 1024)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.total_timeout))
            .tls_config(
                TlsConfig::builder()
                    .root_certs(roots)
                    .unversioned_rustls_crypto_provider(Arc::new(
                        rustls::crypto::ring::default_provider(),
                    ))
                    .build(),
            )
            .build();
        let agent = ureq::Agent::with_parts(
            agent_config,
            ureq::unversioned::transport::DefaultConnector::new(),
            resolve::KeepingResolver::default(),
        );
        let mut proxy_secrets = Secrets::default();
        if let Some((_, rest)) = config.proxy.as_deref().and_then(|p| p.split_once("://")) {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                proxy_secrets.add(userinfo);
                if let Some((_, password)) = userinfo.split_once(':') {
                    proxy_secrets.add(password);
                }
            }
        }
        Ok(Transport {
            agent,
            total: config.total_timeout,
            connect: config.connect_timeout,
            retry: config.retry.clone(),
            proxy_secrets,
        })
    }

    fn limits(&self) -> Limits {
        Limits {
            connect: self.connect,
            total: self.total,
        }
    }

    /// The deadline of a call that starts now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.total
    }

    /// Sends a request, retrying what is safe to retry, and returns the answer whatever its
    /// status. Errors are transport failures only, with the request's `RqUID`.
    /// Each retry of a request with an `RqUID` sends a new one; errors carry the last one sent.
    pub fn send(&self, request: &Request, deadline: Instant) -> Result<Response> {
        let mut last_rquid = request.rquid.clone();
        self.send_retrying(request, deadline, &mut last_rquid)
            .map_err(|e| {
                let e = request
                    .secrets
                    .scrub_error(e.with_rquid(last_rquid.as_deref()));
                self.proxy_secrets.scrub_error(e)
            })
    }

    fn send_retrying(
        &self,
        first: &Request,
        deadline: Instant,
        last_rquid: &mut Option<String>,
    ) -> Result<Response> {
        let mut attempt = 1;
        let mut pause = self.retry.backoff;
        let mut renewed: Option<Request> = None;
        loop {
            let request = renewed.as_ref().unwrap_or(first);
            *last_rquid = request.rquid.clone();
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
                    renewed = first.with_new_rquid().or(renewed);
                }
                _ => return result,
            }
        }
    }

    fn send_once(&self, request: &Request, deadline: Instant) -> Result<Response> {
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
        let body: &[u8] = match &request.body {
            Some((content_type, body)) => {
                builder = builder.header("Content-Type", *content_type);
                body.as_slice()
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
            .map_err(|e| transport_error(e, &what, false, &self.limits()))?;
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
                    Some(inner) => transport_error_ref(inner, &what, true, &self.limits()),
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
            rquid: request.rquid.clone(),
            secrets: request.secrets.clone(),
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

/// The configured limits, to name the one that ran out.
struct Limits {
    connect: Duration,
    total: Duration,
}

impl Limits {
    fn timeout_text(&self, t: &ureq::Timeout) -> String {
        match t {
            ureq::Timeout::Resolve | ureq::Timeout::Connect => format!(
                "the connect timeout (timeouts.connect_ms = {} ms) ran out",
                self.connect.as_millis()
            ),
            _ => format!(
                "the call's total timeout (timeouts.total_ms = {} ms) ran out",
                self.total.as_millis()
            ),
        }
    }
}

fn transport_error(e: ureq::Error, what: &str, in_body: bool, limits: &Limits) -> Error {
    transport_error_ref(&e, what, in_body, limits)
}

fn transport_error_ref(e: &ureq::Error, what: &str, in_body: bool, limits: &Limits) -> Error {
    use ureq::Error as U;
    let (kind, text) = match e {
        U::Timeout(t) => (ErrorKind::Timeout, limits.timeout_text(t)),
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
        U::Io(io) => return io_error(io, what, in_body, limits),
        other => (ErrorKind::Connect, other.to_string()),
    };
    Error::new(kind, format!("{what}: {text}"))
}

fn io_error(io: &std::io::Error, what: &str, in_body: bool, limits: &Limits) -> Error {
    use std::io::ErrorKind as K;
    if let Some(inner) = io.get_ref() {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Error::new(ErrorKind::Tls, format!("{what}: TLS error: {tls}"));
        }
        if let Some(u) = inner.downcast_ref::<ureq::Error>() {
            return transport_error_ref(u, what, in_body, limits);
        }
    }
    let kind = match io.kind() {
        K::TimedOut | K::WouldBlock => ErrorKind::Timeout,
        _ if in_body => ErrorKind::Protocol,
        _ => ErrorKind::Connect,
    };
    let text = match io.kind() {
        K::TimedOut | K::WouldBlock => limits.timeout_text(&ureq::Timeout::Global),
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => {
            "the connection was closed before a complete answer".to_owned()
        }
        _ => io.to_string(),
    };
    Error::new(kind, format!("{what}: {text}"))
}

/// Mozilla's root certificates, as built into the library (`tls.roots = "webpki"`).
fn webpki_roots() -> impl Iterator<Item = Certificate<'static>> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
}
