//! The sockets the library opens itself, for the HTTP transport and the Redis store: TCP or TLS
//! (rustls with ring), connected within a time limit, every read and write bounded by a
//! deadline — including the reads rustls makes on its own during a handshake or a record.
//!
//! A socket's kernel timeout is a system call to set. [`Sock`] sets it only when the one in
//! place would end a wait before the deadline or too long after it (the larger of [`SLACK`] and
//! 1/64 of the time left): the next request of a call, and the next call with the same time
//! limit on a kept connection, reuse it and cost no system call.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};

use crate::config::TrustRoots;
use crate::error::{Error, Result};

/// How far past its deadline one blocking read or write may end, at least; with more time
/// left, 1/64 of it (a 30-second limit may end up to 0.47 s late).
const SLACK: Duration = Duration::from_millis(10);

/// A TCP socket whose every read and write ends by its deadline (give or take its slack): a
/// wait that would pass it fails with [`io::ErrorKind::TimedOut`] (or the OS's `WouldBlock`).
pub(crate) struct Sock {
    tcp: TcpStream,
    deadline: Instant,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// The error of a wait that reached the deadline.
pub(crate) fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the deadline passed")
}

/// Whether an I/O error is a wait that ran out of time (Unix reports a socket timeout as
/// `WouldBlock`, Windows as `TimedOut`).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

impl Sock {
    /// Wraps a connected socket (no Nagle delay: requests are written whole).
    pub fn new(tcp: TcpStream, deadline: Instant) -> Sock {
        let _ = tcp.set_nodelay(true);
        Sock {
            tcp,
            deadline,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// Bounds the reads and writes that follow.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// Makes sure a wait starting now ends between the deadline and the slack after it.
    fn bound(&mut self, write: bool) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(deadline_passed());
        }
        let slot = if write {
            &mut self.write_timeout
        } else {
            &mut self.read_timeout
        };
        let slack = SLACK.max(left / 64);
        if matches!(*slot, Some(t) if t >= left && t <= left + slack) {
            return Ok(());
        }
        let t = left + slack / 2;
        *slot = None;
        if write {
            self.tcp.set_write_timeout(Some(t))?;
            self.write_timeout = Some(t);
        } else {
            self.tcp.set_read_timeout(Some(t))?;
            self.read_timeout = Some(t);
        }
        Ok(())
    }

    /// Whether a kept connection may carry another request: the peer has neither closed it
    /// nor sent anything unasked (for TLS, a `close_notify`). One non-blocking peek.
    #[cfg(unix)]
    pub fn is_reusable(&self) -> bool {
        use rustix::net::RecvFlags;
        let mut byte = [0u8; 1];
        matches!(
            rustix::net::recv(
                &self.tcp,
                &mut byte[..],
                RecvFlags::PEEK | RecvFlags::DONTWAIT
            ),
            Err(rustix::io::Errno::AGAIN)
        )
    }

    /// Whether a kept connection may carry another request (see the Unix version); three
    /// calls here, as Windows has no per-call non-blocking flag.
    #[cfg(not(unix))]
    pub fn is_reusable(&self) -> bool {
        let mut byte = [0u8; 1];
        if self.tcp.set_nonblocking(true).is_err() {
            return false;
        }
        let idle =
            matches!(self.tcp.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        idle && self.tcp.set_nonblocking(false).is_ok()
    }
}

/// Runs one socket call again while a signal interrupts it (`EINTR`): with a socket timeout
/// set, Linux does not restart `recv` or `send` even for an `SA_RESTART` handler, and a stop and
/// continue interrupts it with no handler at all. Each try is bounded anew by the time left to
/// the deadline ([`Sock::bound`]), so a storm of signals cannot stretch the wait.
fn again<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        again(|| {
            self.bound(false)?;
            self.tcp.read(buf)
        })
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        again(|| {
            self.bound(true)?;
            self.tcp.write(buf)
        })
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        again(|| {
            self.bound(true)?;
            self.tcp.write_vectored(bufs)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connection: plain TCP or TLS over it.
pub(crate) enum Stream {
    Plain(Sock),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Sock>>),
}

impl Stream {
    /// The socket under the connection.
    pub fn sock(&self) -> &Sock {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Bounds the reads and writes that follow, TLS's own included.
    pub fn set_deadline(&mut self, deadline: Instant) {
        match self {
            Stream::Plain(s) => s.set_deadline(deadline),
            Stream::Tls(s) => s.sock.set_deadline(deadline),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write_vectored(bufs),
            Stream::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Connects to the first of `addrs` that accepts, each attempt bounded by `limit` and all of
/// them by `deadline`. The error is the last attempt's (`TimedOut` when time ran out).
pub(crate) fn connect(
    addrs: &[SocketAddr],
    limit: Duration,
    deadline: Instant,
) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(deadline_passed());
        }
        match TcpStream::connect_timeout(addr, limit.min(left)) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

/// Why a TLS connection could not be set up.
pub(crate) enum TlsFailure {
    /// The host is not a name or address a certificate can be checked against.
    BadName,
    /// The handshake failed: a certificate, a protocol or a socket error.
    Handshake(io::Error),
}

/// Runs the TLS handshake with `host` over `sock`, within the socket's deadline.
pub(crate) fn tls(
    mut sock: Sock,
    config: &Arc<rustls::ClientConfig>,
    host: &str,
) -> std::result::Result<Stream, TlsFailure> {
    let name = ServerName::try_from(host.to_owned()).map_err(|_| TlsFailure::BadName)?;
    let mut session = rustls::ClientConnection::new(config.clone(), name)
        .map_err(|e| TlsFailure::Handshake(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    while session.is_handshaking() {
        session
            .complete_io(&mut sock)
            .map_err(TlsFailure::Handshake)?;
    }
    Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(
        session, sock,
    ))))
}

/// The rustls error inside an I/O error, if the failure was TLS's.
pub(crate) fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The largest `tls.extra_roots_pem` file read (a system's whole bundle is a few hundred KiB).
const MAX_ROOTS_PEM: u64 = 8 * 1024 * 1024;

/// The certificates of a PEM file (`tls.extra_roots_pem`); a file that cannot be read, is
/// larger than [`MAX_ROOTS_PEM`], is not PEM or holds no certificate is a config error.
pub(crate) fn read_pem_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let bad = |why: String| Error::config(format!("config key `tls.extra_roots_pem`: {why}"));
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_ROOTS_PEM + 1).read_to_end(&mut pem))
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    if pem.len() as u64 > MAX_ROOTS_PEM {
        return Err(bad(format!(
            "{} is larger than {MAX_ROOTS_PEM} bytes",
            path.display()
        )));
    }
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(bad(format!("no certificate in {}", path.display())));
    }
    Ok(certs)
}

/// A root store: Mozilla's roots built into the library, or the system's, plus `extra`.
pub(crate) fn root_store(
    trust: TrustRoots,
    extra: &[CertificateDer<'static>],
) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        TrustRoots::WebPki => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        TrustRoots::Platform => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    roots.add_parsable_certificates(extra.iter().cloned());
    roots
}
