//! A small HTTP/1.1 server over std::net: a thread per connection (no cap: a new client is
//! always served), keep-alive with idle connections closed sooner when many are open,
//! Content-Length and chunked request bodies, `Expect: 100-continue`, optional TLS (rustls),
//! and the ability to misbehave on purpose (cut a connection, truncate a body) for fault
//! injection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How much of a body over [`MAX_BODY_BYTES`] is read and dropped before the 413 is sent (a
/// client that is still sending would otherwise see a reset, not the answer).
const DRAIN_BYTES: usize = 32 * 1024 * 1024;
/// How long an idle keep-alive connection is kept.
const IDLE: Duration = Duration::from_secs(30);
/// With more connections open than this, an idle one is closed after [`IDLE_UNDER_PRESSURE`].
const PRESSURE: usize = 128;
const IDLE_UNDER_PRESSURE: Duration = Duration::from_secs(2);
/// How often an idle connection looks at the pressure.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// The time to read one request once it has begun.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed request.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to send back.
pub enum Reply {
    Normal {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Cut,
    /// Announce a longer body than is sent, then close.
    Truncated { body: Vec<u8> },
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// The reason phrase of `status` ("Status" for one the emulator never chose itself).
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        422 => "Unprocessable Entity",
        501 => "Not Implemented",
        _ => "Status",
    }
}

/// Serves `listener` until `stop` is set (and the listener woken by a connection).
/// With `intercept`, a `CONNECT` to one of the intercepted hosts is answered `200` and the
/// tunnel served as that host's HTTPS with this configuration; any other `CONNECT` is 403
/// (the emulator connects nowhere).
pub fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    intercept: Option<Arc<rustls::ServerConfig>>,
    handler: Handler,
    stop: Arc<AtomicBool>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        active.fetch_add(1, Ordering::SeqCst);
        let (handler, tls, intercept, active, stop) = (
            handler.clone(),
            tls.clone(),
            intercept.clone(),
            active.clone(),
            stop.clone(),
        );
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = connection(stream, tls, intercept, &handler, &stop, &active);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // No thread to be had (the stream was dropped with the closure: closed).
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn connection(
    tcp: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    intercept: Option<Arc<rustls::ServerConfig>>,
    handler: &Handler,
    stop: &AtomicBool,
    active: &AtomicUsize,
) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let raw = tcp.try_clone()?;
    let stream: Box<dyn Stream> = match tls {
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        None => Box::new(tcp),
    };
    let mut reader = BufReader::new(stream);
    loop {
        if stop.load(Ordering::SeqCst) || !wait_for_request(&mut reader, &raw, active, stop) {
            return Ok(());
        }
        raw.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        let request = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(RequestError::TooLarge) => {
                let body = br#"{"error":"request too large"}"#;
                write_reply(reader.get_mut(), 413, &[], body, false)?;
                return Ok(());
            }
            Err(RequestError::Bad(why)) => {
                let body = format!(r#"{{"error":"bad request: {why}"}}"#);
                write_reply(reader.get_mut(), 400, &[], body.as_bytes(), false)?;
                return Ok(());
            }
            Err(RequestError::Io) => return Ok(()),
        };
        if request.method.eq_ignore_ascii_case("CONNECT") {
            let known = crate::intercept::prefix_for(&request.path).is_some();
            match &intercept {
                // Nothing may follow the CONNECT before its answer: the TLS begins after it.
                Some(config) if known && reader.buffer().is_empty() => {
                    let out = reader.get_mut();
                    out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
                    out.flush()?;
                    let conn =
                        rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                    let tunnel: Box<dyn Stream> =
                        Box::new(rustls::StreamOwned::new(conn, reader.into_inner()));
                    reader = BufReader::new(tunnel);
                    continue;
                }
                _ => {
                    let why = if intercept.is_none() {
                        "CONNECT needs --intercept"
                    } else {
                        "CONNECT is served for the intercepted hosts only: the emulator connects nowhere"
                    };
                    let body = format!(r#"{{"error":"{why}","target":{:?}}}"#, request.path);
                    write_reply(reader.get_mut(), 403, &[], body.as_bytes(), false)?;
                    return Ok(());
                }
            }
        }
        let keep_alive = !request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        match handler(&request) {
            Reply::Normal {
                status,
                headers,
                body,
            } => write_reply(reader.get_mut(), status, &headers, &body, keep_alive)?,
            Reply::Cut => {
                let _ = raw.shutdown(Shutdown::Both);
                return Ok(());
            }
            Reply::Truncated { body } => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                    body.len() * 2 + 10
                );
                let out = reader.get_mut();
                out.write_all(head.as_bytes())?;
                out.write_all(&body)?;
                out.flush()?;
                let _ = raw.shutdown(Shutdown::Both);
                return Ok(());
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

fn write_reply(
    out: &mut dyn Stream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut has_type = false;
    let mut chunked = false;
    for (name, value) in headers {
        has_type |= name.eq_ignore_ascii_case("content-type");
        chunked |= name.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_type && !body.is_empty() {
        head.push_str("Content-Type: application/json;charset=UTF-8\r\n");
    }
    if !chunked {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str(&format!(
        "Connection: {}\r\n\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    ));
    out.write_all(head.as_bytes())?;
    if chunked {
        // Two chunks (when there is more than a byte), then the last, empty one.
        let (a, b) = body.split_at(body.len() / 2);
        for part in [a, b].into_iter().filter(|p| !p.is_empty()) {
            out.write_all(format!("{:x}\r\n", part.len()).as_bytes())?;
            out.write_all(part)?;
            out.write_all(b"\r\n")?;
        }
        out.write_all(b"0\r\n\r\n")?;
    } else {
        out.write_all(body)?;
    }
    out.flush()
}

enum RequestError {
    TooLarge,
    Bad(&'static str),
    Io,
}

impl From<io::Error> for RequestError {
    fn from(_: io::Error) -> Self {
        RequestError::Io
    }
}

fn read_line(
    reader: &mut impl BufRead,
    budget: &mut usize,
) -> Result<Option<String>, RequestError> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(RequestError::TooLarge);
    }
    *budget -= n;
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| RequestError::Bad("header is not UTF-8"))
}

/// Waits until the next request begins: false when the client closed, the server stops, or the
/// connection stayed idle too long (sooner when many connections are open).
fn wait_for_request(
    reader: &mut BufReader<Box<dyn Stream>>,
    raw: &TcpStream,
    active: &AtomicUsize,
    stop: &AtomicBool,
) -> bool {
    let since = Instant::now();
    if raw.set_read_timeout(Some(IDLE_POLL)).is_err() {
        return false;
    }
    loop {
        match reader.fill_buf() {
            Ok(buf) => return !buf.is_empty(),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let limit = if active.load(Ordering::SeqCst) > PRESSURE {
                    IDLE_UNDER_PRESSURE
                } else {
                    IDLE
                };
                if since.elapsed() >= limit || stop.load(Ordering::SeqCst) {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn read_request(reader: &mut BufReader<Box<dyn Stream>>) -> Result<Option<Request>, RequestError> {
    let mut budget = MAX_HEADER_BYTES;
    let Some(first) = read_line(reader, &mut budget)? else {
        return Ok(None);
    };
    let mut parts = first.split_whitespace();
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Bad("malformed request line"));
    };
    let mut request = Request {
        method: method.to_owned(),
        ..Default::default()
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    request.path = percent_decode(path);
    request.query = parse_form(query);
    loop {
        let Some(line) = read_line(reader, &mut budget)? else {
            return Err(RequestError::Bad("connection closed inside the headers"));
        };
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(RequestError::Bad("malformed header"))?;
        request
            .headers
            .push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let has_body = request.header("transfer-encoding").is_some()
        || request
            .header("content-length")
            .is_some_and(|l| l.trim() != "0");
    if has_body
        && request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let out = reader.get_mut();
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        out.flush()?;
    }
    if request
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = request.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| RequestError::Bad("bad Content-Length"))?;
        if len > MAX_BODY_BYTES {
            // Read what was announced (up to a bound) so that the client, still sending, gets
            // the 413 instead of a connection reset.
            if len <= DRAIN_BYTES {
                let _ = io::copy(&mut reader.by_ref().take(len as u64), &mut io::sink());
            }
            return Err(RequestError::TooLarge);
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, RequestError> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let line = read_line(reader, &mut budget)?.ok_or(RequestError::Bad("cut chunk"))?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| RequestError::Bad("bad chunk size"))?;
        if body.len() + size > MAX_BODY_BYTES {
            let _ = drain_chunks(reader, body.len(), size);
            return Err(RequestError::TooLarge);
        }
        if size == 0 {
            // Trailers until the blank line.
            loop {
                let mut budget = 8192;
                match read_line(reader, &mut budget)? {
                    Some(l) if !l.is_empty() => continue,
                    _ => return Ok(body),
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Reads and drops the rest of a chunked body that has grown too large (`seen` bytes so far,
/// a chunk of `size` announced), up to [`DRAIN_BYTES`] in all, so that the 413 reaches the
/// client.
fn drain_chunks(
    reader: &mut impl BufRead,
    mut seen: usize,
    mut size: usize,
) -> Result<(), RequestError> {
    loop {
        seen += size;
        if seen > DRAIN_BYTES {
            return Ok(());
        }
        io::copy(&mut reader.by_ref().take(size as u64 + 2), &mut io::sink())?;
        let mut budget = 1024;
        let Some(line) = read_line(reader, &mut budget)? else {
            return Ok(());
        };
        size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| RequestError::Bad("bad chunk size"))?;
        if size == 0 {
            loop {
                let mut budget = 8192;
                match read_line(reader, &mut budget)? {
                    Some(l) if !l.is_empty() => continue,
                    _ => return Ok(()),
                }
            }
        }
    }
}

/// `a=b&c=d` with `+` and `%XX` decoding (query strings and form bodies).
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
