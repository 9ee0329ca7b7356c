//! Where a request goes: its URL read into a [`Target`], the proxy it goes through (if any),
//! and the connection made there — direct, through an HTTP proxy's `CONNECT` tunnel or through a
//! SOCKS5 proxy — with TLS on top for `https`.

use std::io::{Read, Write};

use base64::Engine;
use zeroize::Zeroizing;

use crate::config::{parse_proxy_url, ProxyUrl};

/// A request's URL, read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Target<'a> {
    pub https: bool,
    /// The host as written (a name or an address; an IPv6 address keeps its brackets).
    pub host: &'a str,
    pub port: u16,
    /// `host[:port]` as written: the `Host` header.
    pub authority: &'a str,
    /// The path and query, from the first `/` (`/` when the URL has none).
    pub path: &'a str,
}

impl<'a> Target<'a> {
    /// Reads an absolute `http(s)://host[:port][/path][?query]` URL. What could break the
    /// request line (spaces, control characters, non-ASCII) or is not a plain host is refused.
    pub fn parse(url: &'a str) -> Result<Target<'a>, &'static str> {
        let (https, rest) = if let Some(rest) = strip_prefix_ci(url, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(url, "http://") {
            (false, rest)
        } else {
            return Err("not an http:// or https:// URL");
        };
        let rest = rest.split('#').next().unwrap_or(rest);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if path.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
            return Err("the path holds a space, a control character or non-ASCII");
        }
        if authority.contains('@') {
            return Err("a user and password in the URL are not supported");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or("bad IPv6 address")?;
            let after = &v6[end + 1..];
            if v6[..end].parse::<std::net::Ipv6Addr>().is_err() {
                return Err("bad IPv6 address");
            }
            (&authority[..end + 2], after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            None if !authority.ends_with(':') => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| "bad port")?
            }
            _ => return Err("bad port"),
        };
        let plain_host = host.starts_with('[')
            || (!host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')));
        if !plain_host {
            return Err("bad host");
        }
        Ok(Target {
            https,
            host,
            port,
            authority,
            path: if path.is_empty() { "/" } else { path },
        })
    }

    /// The host as a resolver or a certificate check takes it (no brackets).
    pub fn bare_host(&self) -> &'a str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(self.host)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The proxies of a transport.
#[derive(Debug, Default)]
pub(super) enum Proxies {
    /// Direct connections.
    #[default]
    Direct,
    /// Every request through this proxy (`"proxy": "<url>"`).
    All(ProxyUrl),
    /// From the environment (`"proxy": "env"`), read once when the client is made.
    Env {
        https: Option<ProxyUrl>,
        http: Option<ProxyUrl>,
        no_proxy: Vec<String>,
    },
}

impl Proxies {
    /// The proxies a configuration's `proxy` value names. The URL was checked with the
    /// configuration; an environment variable that is not a proxy URL is a config error naming
    /// the variable.
    pub fn new(value: Option<&str>) -> Result<Proxies, String> {
        match value {
            None => Ok(Proxies::Direct),
            Some("env") => {
                let var = |names: &[&str]| -> Result<Option<ProxyUrl>, String> {
                    for name in names {
                        if let Ok(v) = std::env::var(name) {
                            if v.trim().is_empty() {
                                continue;
                            }
                            return parse_proxy_url(v.trim())
                                .map(Some)
                                .map_err(|why| format!("environment variable {name}: {why}"));
                        }
                    }
                    Ok(None)
                };
                let all = ["ALL_PROXY", "all_proxy"];
                let https = match var(&["HTTPS_PROXY", "https_proxy"])? {
                    Some(p) => Some(p),
                    None => var(&all)?,
                };
                let http = match var(&["HTTP_PROXY", "http_proxy"])? {
                    Some(p) => Some(p),
                    None => var(&all)?,
                };
                let no_proxy = std::env::var("NO_PROXY")
                    .or_else(|_| std::env::var("no_proxy"))
                    .unwrap_or_default()
                    .split(',')
                    .map(|e| e.trim().trim_start_matches('*').trim_start_matches('.'))
                    .filter(|e| !e.is_empty())
                    .map(str::to_ascii_lowercase)
                    .collect();
                Ok(Proxies::Env {
                    https,
                    http,
                    no_proxy,
                })
            }
            Some(url) => parse_proxy_url(url).map(Proxies::All),
        }
    }

    /// The proxy a request to `target` goes through. `NO_PROXY` holds host names (a name
    /// matches itself and its subdomains), addresses, or `*` for every host.
    pub fn for_target(&self, target: &Target<'_>) -> Option<&ProxyUrl> {
        match self {
            Proxies::Direct => None,
            Proxies::All(p) => Some(p),
            Proxies::Env {
                https,
                http,
                no_proxy,
            } => {
                let host = target.bare_host().to_ascii_lowercase();
                let bypass = no_proxy.iter().any(|e| {
                    e == "*"
                        || host == *e
                        || host
                            .strip_suffix(e.as_str())
                            .is_some_and(|head| head.ends_with('.'))
                });
                if bypass {
                    None
                } else if target.https {
                    https.as_ref()
                } else {
                    http.as_ref()
                }
            }
        }
    }
}

/// The longest answer head a proxy may send to `CONNECT`.
const MAX_PROXY_HEAD: usize = 16 * 1024;

/// Asks an HTTP proxy, over `stream`, for a tunnel to `authority` (`host:port`). `Err` holds
/// the reason (an I/O error is returned as such so that a timeout stays a timeout).
pub(super) fn http_tunnel(
    stream: &mut (impl Read + Write),
    authority: &str,
    proxy: &ProxyUrl,
) -> Result<(), TunnelFailure> {
    let mut head = Zeroizing::new(format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    ));
    if let Some((user, pass)) = &proxy.credentials {
        let pair = Zeroizing::new(format!("{}:{}", **user, **pass));
        let basic = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*pair));
        head.push_str("Proxy-Authorization: Basic ");
        head.push_str(&basic);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // Read byte by byte up to the blank line: nothing after it may be taken from the tunnel.
    let mut answer = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_PROXY_HEAD {
            return Err(TunnelFailure::Refused(format!(
                "the proxy's answer to CONNECT is longer than {MAX_PROXY_HEAD} bytes"
            )));
        }
        if stream.read(&mut byte)? == 0 {
            return Err(TunnelFailure::Refused(
                "the proxy closed the connection instead of answering CONNECT".to_owned(),
            ));
        }
        answer.push(byte[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(&answer) {
        Ok(httparse::Status::Complete(_)) => match parsed.code {
            Some(200..=299) => Ok(()),
            Some(code) => Err(TunnelFailure::Refused(format!(
                "the proxy answered HTTP {code} to CONNECT{}",
                if code == 407 {
                    " (proxy authentication required)"
                } else {
                    ""
                }
            ))),
            None => Err(TunnelFailure::Refused(
                "the proxy's answer to CONNECT has no status".to_owned(),
            )),
        },
        _ => Err(TunnelFailure::Refused(
            "the proxy's answer to CONNECT is not HTTP".to_owned(),
        )),
    }
}

/// Why a proxy did not open a tunnel.
pub(super) enum TunnelFailure {
    Io(std::io::Error),
    Refused(String),
}

impl From<std::io::Error> for TunnelFailure {
    fn from(e: std::io::Error) -> Self {
        TunnelFailure::Io(e)
    }
}

/// Asks a SOCKS5 proxy (RFC 1928; user and password per RFC 1929) over `stream` for a
/// connection to `host:port`; a name is sent for the proxy to resolve.
pub(super) fn socks5_tunnel(
    stream: &mut (impl Read + Write),
    host: &str,
    port: u16,
    proxy: &ProxyUrl,
) -> Result<(), TunnelFailure> {
    let refused = |why: &str| TunnelFailure::Refused(format!("SOCKS5 proxy: {why}"));
    let method = if proxy.credentials.is_some() { 2 } else { 0 };
    stream.write_all(&[5, 1, method])?;
    let mut reply = [0u8; 2];
    stream.read_exact(&mut reply)?;
    if reply[0] != 5 {
        return Err(refused("not a SOCKS5 proxy"));
    }
    if reply[1] != method {
        return Err(refused(if method == 2 {
            "the proxy does not accept a user and password"
        } else {
            "the proxy requires authentication"
        }));
    }
    if let Some((user, pass)) = &proxy.credentials {
        if user.len() > 255 || pass.len() > 255 {
            return Err(refused("the user or password is longer than 255 bytes"));
        }
        let mut auth = Zeroizing::new(vec![1, user.len() as u8]);
        auth.extend_from_slice(user.as_bytes());
        auth.push(pass.len() as u8);
        auth.extend_from_slice(pass.as_bytes());
        stream.write_all(&auth)?;
        stream.read_exact(&mut reply)?;
        if reply[1] != 0 {
            return Err(refused("the user and password were refused"));
        }
    }
    let mut request = vec![5, 1, 0];
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        Err(_) if host.len() <= 255 => {
            request.push(3);
            request.push(host.len() as u8);
            request.extend_from_slice(host.as_bytes());
        }
        Err(_) => return Err(refused("the host name is longer than 255 bytes")),
    }
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head)?;
    if head[0] != 5 {
        return Err(refused("a malformed answer"));
    }
    if head[1] != 0 {
        let why = match head[1] {
            1 => "general failure",
            2 => "connection not allowed by its rules",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "an unknown error",
        };
        return Err(refused(&format!("the proxy could not connect: {why}")));
    }
    // The bound address, which is not needed: its length depends on its type.
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len)?;
            len[0] as usize + 2
        }
        _ => return Err(refused("a malformed answer")),
    };
    let mut skip = [0u8; 258];
    stream.read_exact(&mut skip[..rest])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_strictly() {
        let t = Target::parse("http://127.0.0.1:8080/a/b?c=d#frag").unwrap();
        assert_eq!(
            t,
            Target {
                https: false,
                host: "127.0.0.1",
                port: 8080,
                authority: "127.0.0.1:8080",
                path: "/a/b?c=d",
            }
        );
        let t = Target::parse("HTTPS://[::1]/x").unwrap();
        assert_eq!(
            (t.https, t.host, t.bare_host(), t.port),
            (true, "[::1]", "::1", 443)
        );
        assert_eq!(Target::parse("https://h.example?q").unwrap().path, "?q");
        assert_eq!(Target::parse("http://h").unwrap().path, "/");
        for bad in [
            "ftp://h/",
            "http://",
            "http://h:/",
            "http://h:99999/",
            "http://h:8a/",
            "http://u:p@h/",
            "http://h/a b",
            "http://h/a\r\nX: y",
            "http://h/путь",
            "http://[::1/",
            "http://[zz]/",
            "http://h\u{0}/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn no_proxy_matches_names_and_subdomains() {
        let p = parse_proxy_url("http://127.0.0.1:3128").unwrap();
        let env = Proxies::Env {
            https: Some(p.clone()),
            http: None,
            no_proxy: vec!["crpt.ru".to_owned(), "10.0.0.1".to_owned()],
        };
        let via = |url: &str| env.for_target(&Target::parse(url).unwrap()).is_some();
        assert!(via("https://sber.ru/"));
        assert!(!via("https://crpt.ru/"));
        assert!(!via("https://ismp.CRPT.ru/"));
        assert!(via("https://notcrpt.ru/"));
        assert!(!via("https://10.0.0.1/"));
        assert!(!via("http://sber.ru/"), "no HTTP proxy set");
    }
}
