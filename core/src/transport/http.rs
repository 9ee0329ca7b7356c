//! HTTP/1.1 on one connection: a request written whole, its answer read with `httparse` and
//! its body framed by `Content-Length`, `chunked` or the end of the connection — every part
//! bounded in size, and the connection kept only when the answer ended cleanly.

use std::io::{self, Read, Write};

use zeroize::Zeroizing;

use super::message::{Headers, Request};
use super::route::Target;

/// The longest answer head (status line and headers).
pub(super) const MAX_HEAD: usize = 64 * 1024;

/// The most headers an answer may have.
const MAX_HEADERS: usize = 100;

/// The request's head: request line and headers, ending with the blank line. It may hold
/// secrets (Basic credentials, a token) and is wiped on drop. `Err` names a header whose value
/// would break the head.
pub(super) fn request_head(
    request: &Request,
    target: &Target<'_>,
    user_agent: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut head = Zeroizing::new(Vec::with_capacity(512));
    head.extend_from_slice(request.method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(target.path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut line = |name: &str, value: &str| -> Result<(), String> {
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!("the value of header {name} holds a line break"));
        }
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
        Ok(())
    };
    line("Host", target.authority)?;
    line("User-Agent", user_agent)?;
    if request.header_value("Accept").is_none() {
        line("Accept", "application/json")?;
    }
    for (name, value) in &request.headers {
        line(name, value)?;
    }
    match &request.body {
        Some((content_type, body)) => {
            line("Content-Type", content_type)?;
            line("Content-Length", &body.as_slice().len().to_string())?;
        }
        None if request.method.as_str() != "GET" && request.method.as_str() != "DELETE" => {
            line("Content-Length", "0")?;
        }
        None => {}
    }
    head.extend_from_slice(b"\r\n");
    Ok(head)
}

/// Writes the head and the body, together (one `writev` on a plain connection; no copy of
/// either, so no copy of a secret to wipe).
pub(super) fn write_request(stream: &mut impl Write, head: &[u8], body: &[u8]) -> io::Result<()> {
    let mut parts = [io::IoSlice::new(head), io::IoSlice::new(body)];
    let mut left = &mut parts[..];
    io::IoSlice::advance_slices(&mut left, 0);
    while !left.is_empty() {
        match stream.write_vectored(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    stream.flush()
}

/// An answer read whole.
pub(super) struct Answer {
    pub status: u16,
    /// Names in lower case, in the order received.
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The connection ended the answer cleanly and may carry another request.
    pub reusable: bool,
}

/// Why no whole answer was read.
pub(super) enum ReadFailure {
    /// The socket failed or timed out; `started` says whether any byte of the answer came.
    Io { error: io::Error, started: bool },
    /// The connection ended before the head did; `started` as above.
    Closed { started: bool },
    /// The head is not HTTP/1.x, or too long.
    Malformed(String),
    /// The head came, the body did not come whole.
    Body { status: u16, why: BodyFailure },
}

/// What went wrong with a body.
pub(super) enum BodyFailure {
    Io(io::Error),
    /// The connection ended before the body did.
    Cut,
    /// Larger than the limit.
    TooLarge(u64),
    /// A broken `chunked` framing or `Content-Length`.
    Malformed(&'static str),
}

impl ReadFailure {
    /// Nothing of an answer came: on a kept connection, the server had closed it.
    pub fn nothing_came(&self) -> bool {
        matches!(
            self,
            ReadFailure::Io { started: false, .. } | ReadFailure::Closed { started: false }
        )
    }
}

/// The room a read is given at least. Answers of these APIs fit one read; the buffer grows
/// (doubling) only for longer ones, and only the part grown is ever zeroed.
const READ_ROOM: usize = 4096;

/// A buffer kept longer than this between answers is let go.
const KEEP_BUFFER: usize = 64 * 1024;

/// The connection's unread bytes and the reads that fill them, in the connection's buffer
/// (kept with it: zeroed once, not per answer).
struct Input<'a, S> {
    stream: &'a mut S,
    buf: &'a mut Vec<u8>,
    /// The unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    /// How far the buffer was written, to wipe it after the answer.
    high: usize,
    /// Whether any byte came.
    started: bool,
}

impl<'a, S: Read> Input<'a, S> {
    fn new(stream: &'a mut S, buf: &'a mut Vec<u8>) -> Input<'a, S> {
        Input {
            stream,
            buf,
            pos: 0,
            end: 0,
            high: 0,
            started: false,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Reads more; `Ok(0)` at the end of the connection.
    fn fill(&mut self) -> io::Result<usize> {
        if self.buf.len() - self.end < READ_ROOM && self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() - self.end < READ_ROOM {
            let grown = (self.buf.len() * 2).max(self.end + READ_ROOM);
            self.buf.resize(grown, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        self.high = self.high.max(self.end);
        self.started |= n > 0;
        Ok(n)
    }
}

impl<S> Drop for Input<'_, S> {
    /// What the answer left in the buffer (a token, say) does not outlive it.
    fn drop(&mut self) {
        if self.buf.len() > KEEP_BUFFER {
            zeroize::Zeroize::zeroize(self.buf);
            *self.buf = Vec::new();
        } else {
            self.buf[..self.high].fill(0);
        }
    }
}

enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Reads one answer from `stream` with the connection's buffer `buf`, its body at most
/// `max_body` bytes.
pub(super) fn read_answer(
    stream: &mut impl Read,
    buf: &mut Vec<u8>,
    max_body: u64,
) -> Result<Answer, ReadFailure> {
    let mut input = Input::new(stream, buf);
    let (status, headers, keep_alive) = loop {
        let got = input.started;
        match parse_head(input.unread())? {
            Some((used, status, headers, keep_alive)) => {
                input.pos += used;
                // 1xx answers are provisional: the real one follows.
                if (100..200).contains(&status) && status != 101 {
                    continue;
                }
                break (status, headers, keep_alive);
            }
            None if input.unread().len() >= MAX_HEAD => {
                return Err(ReadFailure::Malformed(format!(
                    "an answer head longer than {MAX_HEAD} bytes"
                )))
            }
            None => match input.fill() {
                Ok(0) => return Err(ReadFailure::Closed { started: got }),
                Ok(_) => {}
                Err(error) => {
                    return Err(ReadFailure::Io {
                        error,
                        started: got,
                    })
                }
            },
        }
    };
    if status == 101 {
        return Err(ReadFailure::Malformed(
            "the server switched protocols (HTTP 101)".to_owned(),
        ));
    }
    let framing = framing(status, &headers).map_err(|why| ReadFailure::Body { status, why })?;
    let body_failure = |why| ReadFailure::Body { status, why };
    let (body, clean) = match framing {
        Framing::Empty => (Vec::new(), true),
        Framing::Length(n) if n > max_body => {
            return Err(body_failure(BodyFailure::TooLarge(max_body)))
        }
        Framing::Length(n) => (
            read_length(&mut input, n as usize).map_err(body_failure)?,
            true,
        ),
        Framing::Chunked => (
            read_chunked(&mut input, max_body).map_err(body_failure)?,
            true,
        ),
        Framing::UntilClose => (
            read_to_close(&mut input, max_body).map_err(body_failure)?,
            false,
        ),
    };
    Ok(Answer {
        status,
        reusable: clean && keep_alive && input.unread().is_empty(),
        headers,
        body,
    })
}

type Head = (usize, u16, Headers, bool);

/// The head at the start of `bytes`: its length, status, headers and whether the connection
/// stays open after the answer; `None` while incomplete.
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, ReadFailure> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    let used = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(ReadFailure::Malformed(format!(
                "malformed HTTP answer: {e}"
            )))
        }
    };
    let status = parsed.code.unwrap_or(0);
    let mut keep_alive = parsed.version == Some(1);
    let bytes_in_all = parsed.headers.iter().map(|h| h.name.len() + h.value.len());
    let mut headers = Headers::with_capacity(parsed.headers.len(), bytes_in_all.sum());
    for h in parsed.headers.iter() {
        headers.push(h.name, &String::from_utf8_lossy(h.value));
    }
    for (name, value) in headers.iter() {
        if name == "connection" {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && parsed.version == Some(0) {
                    keep_alive = true;
                }
            }
        }
    }
    Ok(Some((used, status, headers, keep_alive)))
}

fn framing(status: u16, headers: &Headers) -> Result<Framing, BodyFailure> {
    if status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for (name, value) in headers.iter() {
        match name {
            "transfer-encoding" => {
                let last = value.rsplit(',').next().unwrap_or("").trim();
                chunked = Some(last.eq_ignore_ascii_case("chunked"));
            }
            "content-length" => {
                let v = value.trim();
                let n = (!v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| v.parse::<u64>().ok())
                    .flatten()
                    .ok_or(BodyFailure::Malformed("a malformed Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(BodyFailure::Malformed(
                        "two different Content-Length values",
                    ));
                }
                length = Some(n);
            }
            _ => {}
        }
    }
    Ok(match (chunked, length) {
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => Framing::UntilClose,
        (None, Some(0)) => Framing::Empty,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::UntilClose,
    })
}

fn more<S: Read>(input: &mut Input<'_, S>) -> Result<(), BodyFailure> {
    match input.fill() {
        Ok(0) => Err(BodyFailure::Cut),
        Ok(_) => Ok(()),
        Err(e) => Err(BodyFailure::Io(e)),
    }
}

fn read_length<S: Read>(input: &mut Input<'_, S>, n: usize) -> Result<Vec<u8>, BodyFailure> {
    while input.unread().len() < n {
        more(input)?;
    }
    let body = input.unread()[..n].to_vec();
    input.pos += n;
    Ok(body)
}

fn read_to_close<S: Read>(input: &mut Input<'_, S>, max: u64) -> Result<Vec<u8>, BodyFailure> {
    loop {
        if input.unread().len() as u64 > max {
            return Err(BodyFailure::TooLarge(max));
        }
        match input.fill() {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(BodyFailure::Io(e)),
        }
    }
    let body = input.unread().to_vec();
    input.pos = input.end;
    Ok(body)
}

/// The longest chunk-size line or trailer section accepted.
const MAX_CHUNK_META: usize = 16 * 1024;

fn read_chunked<S: Read>(input: &mut Input<'_, S>, max: u64) -> Result<Vec<u8>, BodyFailure> {
    let mut body = Vec::new();
    loop {
        let (used, size) = loop {
            match httparse::parse_chunk_size(input.unread()) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) if input.unread().len() < MAX_CHUNK_META => {
                    more(input)?
                }
                _ => return Err(BodyFailure::Malformed("a malformed chunk size")),
            }
        };
        input.pos += used;
        if size == 0 {
            break;
        }
        if body.len() as u64 + size > max {
            return Err(BodyFailure::TooLarge(max));
        }
        let size = size as usize;
        while input.unread().len() < size + 2 {
            more(input)?;
        }
        let data = input.unread();
        if &data[size..size + 2] != b"\r\n" {
            return Err(BodyFailure::Malformed("a chunk without its line end"));
        }
        body.extend_from_slice(&data[..size]);
        input.pos += size + 2;
    }
    // Trailers, if any, up to the blank line; their content is not used.
    loop {
        match input.unread().windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                input.pos += 2;
                return Ok(body);
            }
            Some(end) => input.pos += end + 2,
            None if input.unread().len() < MAX_CHUNK_META => more(input)?,
            None => return Err(BodyFailure::Malformed("trailers too long")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Answer, ReadFailure> {
        read_answer(&mut &bytes[..], &mut Vec::new(), 1024)
    }

    fn body(bytes: &[u8]) -> Vec<u8> {
        match read(bytes) {
            Ok(a) => a.body,
            Err(_) => panic!("no answer in {:?}", String::from_utf8_lossy(bytes)),
        }
    }

    #[test]
    fn bodies_are_framed_by_length_chunks_or_close() {
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
            b"{}"
        );
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1;x=y\r\n}\r\n0\r\nX: y\r\n\r\n"),
            b"{}"
        );
        assert_eq!(body(b"HTTP/1.0 200 OK\r\n\r\n{}"), b"{}");
        assert_eq!(
            body(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
            b""
        );
        let a = read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").ok();
        assert!(!a.unwrap().reusable);
        let a = read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").ok();
        assert!(a.unwrap().reusable);
        let a = read(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}").ok();
        assert!(!a.unwrap().reusable, "HTTP/1.0 closes unless asked");
    }

    /// Hands out its bytes a few at a time, as a slow connection does.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Takes at most a few bytes per write, vectored or not, as a full socket does.
    struct Narrow(Vec<u8>, usize);

    impl Write for Narrow {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
            let mut room = self.1;
            for buf in bufs {
                let n = buf.len().min(room);
                self.0.extend_from_slice(&buf[..n]);
                room -= n;
            }
            Ok(self.1 - room)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_request_goes_out_whole_through_short_writes() {
        for step in [1, 5, 1000] {
            for body in [&b""[..], b"{\"a\":1}"] {
                let mut out = Narrow(Vec::new(), step);
                write_request(&mut out, b"POST / HTTP/1.1\r\n\r\n", body).unwrap();
                assert_eq!(out.0, [&b"POST / HTTP/1.1\r\n\r\n"[..], body].concat());
            }
        }
    }

    #[test]
    fn long_answers_in_small_reads_grow_the_buffer_and_leave_it_wiped() {
        let payload: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for part in payload.chunks(3000) {
            chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            chunked.extend_from_slice(part);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let mut length = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        length.extend_from_slice(&payload);
        for answer in [chunked, length] {
            for step in [7, 1000, 5000] {
                let mut buf = Vec::new();
                let got = read_answer(&mut Trickle(&answer, step), &mut buf, 1 << 20).ok();
                assert_eq!(got.unwrap().body, payload, "read {step} bytes at a time");
                assert!(buf.len() >= READ_ROOM && buf.iter().all(|&b| b == 0));
            }
        }
    }

    #[test]
    fn broken_answers_are_refused() {
        let body_failure = |bytes: &[u8]| match read(bytes) {
            Err(ReadFailure::Body { status, why }) => (status, why),
            _ => panic!("{:?}", String::from_utf8_lossy(bytes)),
        };
        assert!(matches!(
            body_failure(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}"),
            (200, BodyFailure::Cut)
        ));
        assert!(matches!(
            body_failure(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
            (200, BodyFailure::TooLarge(1024))
        ));
        assert!(matches!(
            body_failure(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}"),
            (200, BodyFailure::Malformed(_))
        ));
        assert!(matches!(
            body_failure(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            (200, BodyFailure::Malformed(_))
        ));
        assert!(matches!(
            body_failure(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            (200, BodyFailure::Malformed(_))
        ));
        assert!(matches!(
            body_failure(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFF\r\n"),
            (200, BodyFailure::TooLarge(_))
        ));
        assert!(matches!(
            read(b"<html>hello</html>\r\n\r\n"),
            Err(ReadFailure::Malformed(_))
        ));
        assert!(matches!(
            read(b""),
            Err(ReadFailure::Closed { started: false })
        ));
        assert!(matches!(
            read(b"HTTP/1.1 200"),
            Err(ReadFailure::Closed { started: true })
        ));
    }

    #[test]
    fn a_head_line_break_in_a_value_is_refused() {
        use super::super::message::Method;
        let target = Target::parse("http://127.0.0.1:1/x").unwrap();
        let request = Request::new(Method::Get, "http://127.0.0.1:1/x".to_owned())
            .header("X-A", "a\r\nX-B: b");
        assert!(request_head(&request, &target, "ua").is_err());
        let request =
            Request::new(Method::Post, "http://127.0.0.1:1/x".to_owned()).json(b"{}".to_vec());
        let head = request_head(&request, &target, "ua").unwrap();
        let head = String::from_utf8(head.to_vec()).unwrap();
        assert!(
            head.starts_with("POST /x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"),
            "{head}"
        );
        assert!(head.ends_with("Content-Length: 2\r\n\r\n"), "{head}");
    }
}
