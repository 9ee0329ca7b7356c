//! One connection to a Redis server: TCP or TLS (rustls, with the roots HTTPS uses plus
//! `tls.extra_roots_pem`), `AUTH` with an ACL user or a password, `SELECT`; commands encoded and
//! replies parsed by the `redis` crate.
//!
//! The connection owns its socket, so that every read is bounded: a reply may take at most
//! [`MAX_REPLY_BYTES`] and the command's time limit, whatever the server sends (an endless
//! line, a huge announced length, a slow drip). A connection that failed in any way but a
//! Redis error reply is marked broken and never used again.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;

use crate::config::{RedisConfig, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::net::{self, Stream};

/// The most bytes one reply may take: a 1 MiB value and its framing. Tokens are stored as small
/// JSON documents (a SmartMarket JWE is a few kilobytes); anything larger comes from a broken or
/// hostile server, and is cut off there.
pub(super) const MAX_REPLY_BYTES: usize = (1 << 20) + 4096;

/// What a connection authenticates with.
pub(super) struct Credentials<'a> {
    pub username: Option<&'a str>,
    pub password: Option<&'a Secret>,
}

/// Why a bounded read stopped, kept so the message is ours and not the parser's.
#[derive(Clone, Copy)]
enum Cut {
    TooLong,
    TooSlow,
}

/// The socket as the reply parser sees it: at most `left` more bytes, until `deadline`.
struct Bounded<'a> {
    stream: &'a mut Stream,
    left: usize,
    deadline: Instant,
    cut: &'a mut Option<Cut>,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            *self.cut = Some(Cut::TooLong);
            return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            *self.cut = Some(Cut::TooSlow);
            return Err(io::Error::new(io::ErrorKind::TimedOut, "reply too slow"));
        }
        let take = buf.len().min(self.left);
        let n = self.stream.read(&mut buf[..take])?;
        self.left -= n;
        Ok(n)
    }
}

/// One open, authenticated connection.
pub(super) struct Conn {
    stream: Stream,
    parser: redis::Parser,
    /// `host:port`, for messages.
    addr: String,
    /// Set by any failure but an error reply: the connection is dropped, never reused.
    pub broken: bool,
}

/// The TLS settings of a store: the roots, loaded once.
pub(super) fn tls_config(config: &RedisConfig) -> Result<Arc<rustls::ClientConfig>> {
    let extra = match &config.extra_roots_pem {
        Some(path) => net::read_pem_roots(path)?,
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Store, format!("Redis TLS: {e}")))?
        .with_root_certificates(net::root_store(config.trust_roots, &extra))
        .with_no_client_auth();
    Ok(Arc::new(tls))
}

fn store_error(text: String) -> Error {
    Error::new(ErrorKind::Store, text)
}

impl Conn {
    /// Connects to `host:port` (TLS when `tls` is given), authenticates and selects `db`, all
    /// within `timeout`.
    pub fn open(
        host: &str,
        port: u16,
        tls: Option<&Arc<rustls::ClientConfig>>,
        credentials: &Credentials<'_>,
        db: u32,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Conn> {
        let deadline = Instant::now() + timeout;
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let unavailable =
            |e: &dyn std::fmt::Display| store_error(format!("Redis at {addr} unavailable: {e}"));
        // An IP literal needs no lookup; a name is resolved by the system (one blocking call).
        let addrs: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => (host, port)
                .to_socket_addrs()
                .map_err(|e| unavailable(&e))?
                .collect(),
        };
        let tcp = net::connect(&addrs, connect_timeout, deadline).map_err(|e| unavailable(&e))?;
        let sock = net::Sock::new(tcp, deadline);
        let stream = match tls {
            None => Stream::Plain(sock),
            Some(config) => net::tls(sock, config, host).map_err(|f| match f {
                net::TlsFailure::BadName => store_error(format!(
                    "Redis at {addr}: {host:?} is not a host name for TLS"
                )),
                net::TlsFailure::Handshake(e) if net::is_timeout(&e) => store_error(format!(
                    "Redis at {addr}: the TLS handshake did not finish within {} ms",
                    timeout.as_millis()
                )),
                net::TlsFailure::Handshake(e) => {
                    store_error(format!("Redis at {addr}: the TLS handshake failed: {e}"))
                }
            })?,
        };
        let mut conn = Conn {
            stream,
            parser: redis::Parser::new(),
            addr,
            broken: false,
        };
        if let Some(password) = credentials.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = credentials.username {
                auth.arg(user);
            }
            auth.arg(password.expose());
            conn.call(&auth, deadline.saturating_duration_since(Instant::now()))
                .map_err(|e| {
                    let why = e
                        .message
                        .split_once("answered an error: ")
                        .map_or(e.message.as_str(), |(_, why)| why);
                    store_error(format!(
                        "Redis at {}: authentication{} failed: {why}",
                        conn.addr,
                        credentials
                            .username
                            .map(|u| format!(" as {u:?}"))
                            .unwrap_or_default(),
                    ))
                })?;
        }
        if db != 0 {
            conn.call(
                redis::cmd("SELECT").arg(db),
                deadline.saturating_duration_since(Instant::now()),
            )?;
        }
        Ok(conn)
    }

    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `cmd` and reads its reply, within `timeout`. A Redis error reply is a `Store`
    /// error and leaves the connection usable; anything else that fails breaks it.
    pub fn call(&mut self, cmd: &redis::Cmd, timeout: Duration) -> Result<Value> {
        self.exchange(cmd, timeout).map_err(|failure| {
            let (broken, e) = *failure;
            self.broken |= broken;
            e
        })
    }

    fn exchange(
        &mut self,
        cmd: &redis::Cmd,
        timeout: Duration,
    ) -> std::result::Result<Value, Box<(bool, Error)>> {
        let addr = &self.addr;
        let broken =
            |text: String| Box::new((true, store_error(format!("Redis at {addr}: {text}"))));
        if self.broken {
            return Err(broken("the connection failed before".to_owned()));
        }
        if timeout.is_zero() {
            return Err(broken("no time left for the command".to_owned()));
        }
        let deadline = Instant::now() + timeout;
        self.stream.set_deadline(deadline);
        self.stream
            .write_all(&cmd.get_packed_command())
            .and_then(|_| self.stream.flush())
            .map_err(|e| broken(format!("unavailable: {e}")))?;
        let mut cut = None;
        let parsed = self.parser.parse_value(Bounded {
            stream: &mut self.stream,
            left: MAX_REPLY_BYTES,
            deadline,
            cut: &mut cut,
        });
        match (parsed, cut) {
            (_, Some(Cut::TooLong)) => Err(broken(format!(
                "a reply longer than {MAX_REPLY_BYTES} bytes: refused"
            ))),
            (_, Some(Cut::TooSlow)) => Err(broken(format!(
                "no complete reply within {} ms",
                timeout.as_millis()
            ))),
            (Ok(Value::ServerError(e)), None) => Err(Box::new((
                // A failover turned the server into a replica: find the master again.
                e.code() == "READONLY",
                store_error(format!(
                    "Redis at {addr} answered an error: {}",
                    bounded_text(&format!("{} {}", e.code(), e.details().unwrap_or("")))
                )),
            ))),
            (Ok(v), None) => Ok(v),
            (Err(e), None) if e.is_timeout() => Err(broken(format!(
                "no complete reply within {} ms",
                timeout.as_millis()
            ))),
            (Err(e), None) if e.is_io_error() => Err(broken(format!(
                "unavailable: {}",
                bounded_text(&e.to_string())
            ))),
            (Err(e), None) => Err(broken(format!(
                "bad reply: {}",
                bounded_text(&e.to_string())
            ))),
        }
    }
}

/// At most 200 characters of a text that came from the server.
fn bounded_text(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
