//! The HTTP transport: HTTP/1.1 over the library's own sockets ([`crate::net`]), a pool of
//! kept connections per client, a deadline per call, retries that are safe, and the mapping of
//! every transport failure onto an [`ErrorKind`]. What a request holds and what an answer means
//! is in [`message`]; the transport only carries them.
//!
//! The protocol's parsing is `httparse`'s; what is written here is what a client around it
//! needs and nothing more: one connection per request at a time, kept only after an answer
//! that ended cleanly and checked (one non-blocking peek) before it is used again; no thread,
//! no resolver call and no system call beyond the request's write and the answer's reads on a
//! kept connection.

mod http;
mod message;
mod resolve;
mod route;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use message::{
    retry_after, status_error, status_error_with, Body, Headers, Method, Request, Response, Secrets,
};
use rustls::pki_types::CertificateDer;

use crate::config::{Config, TrustRoots};
use crate::error::{Error, ErrorKind, Result};
use crate::net::{self, Sock, Stream};
use http::{BodyFailure, ReadFailure};
use route::{Proxies, Target, TunnelFailure};

/// Answers larger than this are a protocol error; every answer of these APIs is small.
const MAX_BODY: u64 = 4 * 1024 * 1024;

/// The most kept connections, and per host: a client's calls run one request at a time per
/// thread, and the services are a handful of hosts.
const MAX_IDLE: usize = 16;
const MAX_IDLE_PER_HOST: usize = 4;

/// A kept connection unused for this long is closed rather than tried (servers close theirs
/// after tens of seconds; one found closed costs a reconnect, not an error).
const IDLE_FOR: Duration = Duration::from_secs(30);

/// A kept connection and what it leads to.
struct Idle {
    https: bool,
    host: String,
    port: u16,
    since: Instant,
    stream: Stream,
    /// The connection's read buffer.
    buf: Vec<u8>,
}

/// The transport shared by every call of one client.
pub struct Transport {
    total: Duration,
    connect: Duration,
    retry: crate::config::RetryPolicy,
    user_agent: String,
    proxies: Proxies,
    /// `connect_to`: the address to use for a `host:port` instead of resolving the name.
    connect_to: std::collections::BTreeMap<String, std::net::SocketAddr>,
    resolver: resolve::KeepingResolver,
    /// The roots the configuration adds (`tls.extra_roots_pem`), read when the client is made.
    extra_roots: Vec<CertificateDer<'static>>,
    trust_roots: TrustRoots,
    /// The TLS settings, made at the first `https` connection (loading a root store costs
    /// milliseconds that a client talking plain HTTP, or not at all, need not pay).
    tls: OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>>,
    idle: Mutex<Vec<Idle>>,
    /// The proxy URL's user and password, cut out of every message.
    proxy_secrets: Secrets,
}

impl Transport {
    /// The transport a configuration describes: trust roots, proxy, user agent, timeouts and retry
    /// policy. An unreadable `tls.extra_roots_pem` or a bad proxy URL is a config error.
    pub fn new(config: &Config) -> Result<Transport> {
        let extra_roots = match &config.extra_roots_pem {
            None => Vec::new(),
            Some(path) => net::read_pem_roots(path)?,
        };
        let proxies = Proxies::new(config.proxy.as_deref())
            .map_err(|why| Error::config(format!("config key `proxy`: {why}")))?;
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
            total: config.total_timeout,
            connect: config.connect_timeout,
            retry: config.retry.clone(),
            user_agent: config.user_agent.clone(),
            proxies,
            connect_to: config.connect_to.clone(),
            resolver: resolve::KeepingResolver::default(),
            extra_roots,
            trust_roots: config.trust_roots,
            tls: OnceLock::new(),
            idle: Mutex::new(Vec::new()),
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
            let mut stale = false;
            let result = self.send_once(request, deadline, &mut stale);
            let retry_in = match &result {
                _ if !request.repeatable || attempt >= self.retry.max_attempts => None,
                // A kept connection the server had closed: again at once, on a new one.
                Err(_) if stale => Some(Duration::ZERO),
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
                    // Sending again on a new connection was no back-off: the next one is not
                    // longer for it.
                    if !stale {
                        pause = pause.saturating_mul(2);
                    }
                    renewed = first.with_new_rquid().or(renewed);
                }
                _ => return result,
            }
        }
    }

    /// Sends the request once. `stale` is set when it went on a kept connection and nothing at
    /// all came back: the server had closed it, or closed it on reading the request (the two
    /// look the same from here, so whether to send again is the retry policy's to say).
    fn send_once(
        &self,
        request: &Request,
        deadline: Instant,
        stale: &mut bool,
    ) -> Result<Response> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::new(
                ErrorKind::Timeout,
                "the call's total timeout ran out before the request was sent",
            ));
        }
        let target = Target::parse(&request.url).map_err(|why| {
            Error::invalid_argument(format!("bad URL {}: {why}", strip_query(&request.url)))
        })?;
        let what = &What(request);
        let head = http::request_head(request, &target, &self.user_agent)
            .map_err(|why| Error::invalid_argument(format!("{what}: {why}")))?;
        let body = request.body.as_ref().map_or(&[][..], |(_, b)| b.as_slice());
        let kept = self.take_idle(&target);
        let reused = kept.is_some();
        let (mut stream, mut buf) = match kept {
            Some(kept) => kept,
            None => (self.open(&target, deadline, what)?, Vec::new()),
        };
        stream.set_deadline(deadline);
        let answer = match http::write_request(&mut stream, &head, body) {
            Ok(()) => http::read_answer(&mut stream, &mut buf, MAX_BODY),
            Err(error) => Err(ReadFailure::Io {
                error,
                started: false,
            }),
        };
        match answer {
            Ok(answer) => {
                if answer.reusable {
                    self.keep_idle(&target, stream, buf);
                }
                Ok(Response {
                    status: answer.status,
                    headers: answer.headers,
                    body: answer.body,
                    rquid: request.rquid.clone(),
                    secrets: request.secrets.clone(),
                })
            }
            Err(failure) => {
                *stale = reused && failure.nothing_came() && !deadline_passed(deadline);
                let error = self.read_error(failure, what);
                *stale &= error.kind == ErrorKind::Connect;
                Err(error)
            }
        }
    }

    /// A kept connection to the target that is still open, if there is one, and its buffer.
    fn take_idle(&self, target: &Target<'_>) -> Option<(Stream, Vec<u8>)> {
        loop {
            let Idle { stream, buf, .. } = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.retain(|c| c.since.elapsed() < IDLE_FOR);
                let i = idle.iter().rposition(|c| {
                    c.https == target.https && c.port == target.port && c.host == target.host
                })?;
                idle.swap_remove(i)
            };
            if stream.sock().is_reusable() {
                return Some((stream, buf));
            }
        }
    }

    fn keep_idle(&self, target: &Target<'_>, stream: Stream, buf: Vec<u8>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let same =
            |c: &Idle| c.https == target.https && c.port == target.port && c.host == target.host;
        if idle.iter().filter(|c| same(c)).count() >= MAX_IDLE_PER_HOST {
            return;
        }
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(Idle {
            https: target.https,
            host: target.host.to_owned(),
            port: target.port,
            since: Instant::now(),
            stream,
            buf,
        });
    }

    /// A new connection to the target: resolved, connected (through the proxy, if any) and
    /// TLS set up, within the connect timeout and the call's deadline.
    fn open(&self, target: &Target<'_>, deadline: Instant, what: &What<'_>) -> Result<Stream> {
        let limits = self.limits();
        let proxy = self.proxies.for_target(target);
        let (host, port) = match proxy {
            Some(p) => (p.host.as_str(), p.port),
            None => (target.bare_host(), target.port),
        };
        let via = if proxy.is_some() { "the proxy: " } else { "" };
        let fail = |kind: ErrorKind, text: String| Error::new(kind, format!("{what}: {via}{text}"));
        let connect_by = (Instant::now() + self.connect).min(deadline);
        let by_connect_timeout = connect_by < deadline;
        let ran_out = || {
            if by_connect_timeout {
                limits.connect_text()
            } else {
                limits.total_text()
            }
        };
        let left = connect_by.saturating_duration_since(Instant::now());
        let pinned = self
            .connect_to
            .get(&format!("{}:{port}", host.to_ascii_lowercase()));
        let addrs = match pinned {
            Some(addr) => Ok(vec![*addr]),
            None => self.resolver.resolve(host, port, left),
        }
        .map_err(|e| match e {
            resolve::Unresolved::NotFound => {
                fail(ErrorKind::Connect, format!("host not found: {host}"))
            }
            resolve::Unresolved::TimedOut => fail(ErrorKind::Timeout, ran_out()),
        })?;
        let tcp = net::connect(&addrs, left, connect_by).map_err(|e| {
            if net::is_timeout(&e) {
                fail(ErrorKind::Timeout, ran_out())
            } else {
                fail(ErrorKind::Connect, io_text(&e))
            }
        })?;
        // The tunnel and the handshake belong to connecting: the connect timeout bounds them.
        let mut sock = Sock::new(tcp, connect_by);
        let tunnel_error = |f: TunnelFailure| match f {
            TunnelFailure::Refused(why) => fail(ErrorKind::Connect, why),
            TunnelFailure::Io(e) if net::is_timeout(&e) => fail(ErrorKind::Timeout, ran_out()),
            TunnelFailure::Io(e) => fail(ErrorKind::Connect, io_text(&e)),
        };
        match proxy {
            Some(p) if p.socks => {
                route::socks5_tunnel(&mut sock, target.bare_host(), target.port, p)
                    .map_err(tunnel_error)?
            }
            Some(p) => {
                let authority = format!("{}:{}", target.host, target.port);
                route::http_tunnel(&mut sock, &authority, p).map_err(tunnel_error)?
            }
            None => {}
        }
        if !target.https {
            return Ok(Stream::Plain(sock));
        }
        let config = self
            .tls_config()
            .map_err(|why| Error::new(ErrorKind::Tls, format!("{what}: {why}")))?;
        net::tls(sock, &config, target.bare_host()).map_err(|f| match f {
            net::TlsFailure::BadName => Error::new(
                ErrorKind::InvalidArgument,
                format!("{what}: the host is not a name a certificate can be checked against"),
            ),
            net::TlsFailure::Handshake(e) => match net::tls_error(&e) {
                Some(tls) => Error::new(ErrorKind::Tls, format!("{what}: TLS error: {tls}")),
                None if net::is_timeout(&e) => fail(ErrorKind::Timeout, ran_out()),
                None => Error::new(
                    ErrorKind::Connect,
                    format!("{what}: the TLS handshake failed: {}", io_text(&e)),
                ),
            },
        })
    }

    /// The TLS settings: the platform's verifier, or a root store (Mozilla's roots, or the
    /// system's plus `tls.extra_roots_pem`).
    fn tls_config(&self) -> std::result::Result<Arc<rustls::ClientConfig>, String> {
        self.tls
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("TLS setup: {e}"))?;
                let config =
                    if self.trust_roots == TrustRoots::Platform && self.extra_roots.is_empty() {
                        let verifier = rustls_platform_verifier::Verifier::new(provider)
                            .map_err(|e| format!("the system's certificate verifier: {e}"))?;
                        builder
                            .dangerous()
                            .with_custom_certificate_verifier(Arc::new(verifier))
                            .with_no_client_auth()
                    } else {
                        builder
                            .with_root_certificates(net::root_store(
                                self.trust_roots,
                                &self.extra_roots,
                            ))
                            .with_no_client_auth()
                    };
                Ok(Arc::new(config))
            })
            .clone()
    }

    fn read_error(&self, failure: ReadFailure, what: &What<'_>) -> Error {
        let limits = self.limits();
        match failure {
            ReadFailure::Io { error, .. } if net::is_timeout(&error) => Error::new(
                ErrorKind::Timeout,
                format!("{what}: {}", limits.total_text()),
            ),
            ReadFailure::Io { error, .. } => match net::tls_error(&error) {
                Some(tls) => Error::new(ErrorKind::Tls, format!("{what}: TLS error: {tls}")),
                None => Error::new(ErrorKind::Connect, format!("{what}: {}", io_text(&error))),
            },
            ReadFailure::Closed { .. } => Error::new(
                ErrorKind::Connect,
                format!("{what}: the connection was closed before a complete answer"),
            ),
            ReadFailure::Malformed(why) => Error::protocol(format!("{what}: {why}")),
            ReadFailure::Body { status, why } => {
                let mut err = match why {
                    BodyFailure::Io(e) if net::is_timeout(&e) => Error::new(
                        ErrorKind::Timeout,
                        format!("{what}: {}", limits.total_text()),
                    ),
                    BodyFailure::Io(e) => Error::protocol(format!(
                        "{what}: the answer's body was cut short or unreadable ({})",
                        io_text(&e)
                    )),
                    BodyFailure::Cut => {
                        Error::protocol(format!("{what}: the answer's body was cut short"))
                    }
                    BodyFailure::TooLarge(n) => {
                        Error::protocol(format!("{what}: the answer is larger than {n} bytes"))
                    }
                    BodyFailure::Malformed(why) => {
                        Error::protocol(format!("{what}: malformed HTTP answer: {why}"))
                    }
                };
                err.http_status = Some(status);
                err
            }
        }
    }
}

fn deadline_passed(deadline: Instant) -> bool {
    Instant::now() >= deadline
}

/// What a message says the request was ("POST https://host/path", no query): written only
/// when a message is.
struct What<'a>(&'a Request);

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0.method.as_str(), strip_query(&self.0.url))
    }
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
    fn connect_text(&self) -> String {
        format!(
            "the connect timeout (timeouts.connect_ms = {} ms) ran out",
            self.connect.as_millis()
        )
    }

    fn total_text(&self) -> String {
        format!(
            "the call's total timeout (timeouts.total_ms = {} ms) ran out",
            self.total.as_millis()
        )
    }
}

/// An I/O error in words, the common cases named plainly.
fn io_text(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => {
            "the connection was closed before a complete answer".to_owned()
        }
        _ => e.to_string(),
    }
}
