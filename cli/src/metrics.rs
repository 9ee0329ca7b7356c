//! `suz keep --metrics ADDR`: the keeper's figures as Prometheus text (format 0.0.4) at
//! `GET /metrics`, on a loopback address of the operator's choosing. One small thread answers;
//! a request line and its headers are read with a time limit and at most 8 KiB, anything but
//! `GET /metrics` is a 404.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One kept profile's figures.
#[derive(Default, Clone)]
pub struct ProfileFigures {
    /// Tokens this keeper fetched.
    pub fetches: u64,
    /// Failed looks, by result code name.
    pub failures: BTreeMap<String, u64>,
    /// Fetches that replaced a token a consumer dropped while it was valid (after a 401).
    pub recoveries: u64,
    /// Looks that waited for a fetch elsewhere (another process holding the store's lock).
    pub waits: u64,
    /// The kept token's expiry (Unix ms), once there is one.
    pub token_expires_at_ms: Option<i64>,
    /// The signing certificate's expiry (Unix ms), when known.
    pub certificate_expires_at_ms: Option<i64>,
    /// When the last look succeeded (Unix ms).
    pub last_success_ms: Option<i64>,
}

/// The figures of every kept profile, by name.
pub type Figures = Arc<Mutex<BTreeMap<String, ProfileFigures>>>;

/// Serves `figures` at `addr` on a thread of its own; the address it is bound to.
pub fn serve(addr: &str, figures: Figures) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("suz-keep-metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &figures);
            }
        })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, figures: &Figures) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new((&stream).take(8 * 1024));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers, up to the blank line (bounded by `take` and the timeout).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (status, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => ("200 OK", render(figures, now_ms())),
        _ => (
            "404 Not Found",
            "only GET /metrics is served here\n".to_owned(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn now_ms() -> i64 {
    suz_auth_core::token::now_ms()
}

/// A label value, escaped as the text format asks (backslash, quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition of `figures` at `now` (Unix ms).
pub fn render(figures: &Figures, now: i64) -> String {
    let figures = figures.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{{{labels}}} {value}\n"));
        }
    };
    let per = |f: &dyn Fn(&ProfileFigures) -> Option<String>| -> Vec<(String, String)> {
        figures
            .iter()
            .filter_map(|(name, p)| f(p).map(|v| (format!("profile=\"{}\"", label(name)), v)))
            .collect()
    };
    let seconds = |at: Option<i64>| at.map(|at| format!("{:.3}", (at - now) as f64 / 1000.0));
    family(
        "suz_keep_fetches_total",
        "counter",
        "Tokens this keeper fetched.",
        per(&|p| Some(p.fetches.to_string())),
    );
    family(
        "suz_keep_failures_total",
        "counter",
        "Failed looks at a profile's token, by result code.",
        figures
            .iter()
            .flat_map(|(name, p)| {
                p.failures.iter().map(move |(code, n)| {
                    (
                        format!("profile=\"{}\",code=\"{}\"", label(name), label(code)),
                        n.to_string(),
                    )
                })
            })
            .collect(),
    );
    family(
        "suz_keep_recoveries_total",
        "counter",
        "Fetches that replaced a token a consumer dropped from the store while it was valid (after a 401).",
        per(&|p| Some(p.recoveries.to_string())),
    );
    family(
        "suz_keep_waits_total",
        "counter",
        "Looks that waited for a fetch elsewhere (another process holding the store's lock).",
        per(&|p| Some(p.waits.to_string())),
    );
    family(
        "suz_token_expiry_seconds",
        "gauge",
        "Seconds until the kept token expires (negative: expired).",
        per(&|p| seconds(p.token_expires_at_ms)),
    );
    family(
        "suz_certificate_expiry_seconds",
        "gauge",
        "Seconds until the signing certificate expires.",
        per(&|p| seconds(p.certificate_expires_at_ms)),
    );
    family(
        "suz_keep_last_success_timestamp_seconds",
        "gauge",
        "When a look at the profile's token last succeeded (Unix seconds).",
        per(&|p| {
            p.last_success_ms
                .map(|ms| format!("{:.3}", ms as f64 / 1000.0))
        }),
    );
    out
}
