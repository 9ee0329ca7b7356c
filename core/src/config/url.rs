//! Base URL values: a stand name or an absolute http(s) URL.

use super::Service;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub(super) fn resolve_url_value(service: Service, value: &str, key: &str) -> Result<String> {
    if let Some(url) = service.stand_url(value) {
        return Ok(url.to_owned());
    }
    check_url(value, key)
}

/// Checks that a value is an absolute http(s) URL and returns it without a trailing slash, its
/// scheme in lower case (schemes are case-insensitive: `HTTPS://` is `https://`). A user and
/// password in it (`http://user:pass@host`) are refused without repeating them: the services
/// take their credentials from the profile, and a URL is shown in messages and logs.
pub(super) fn check_url(value: &str, key: &str) -> Result<String> {
    let not_a_url = || {
        Error::config(format!(
            "config key `{key}`: {:?} is neither a stand name nor an http(s) URL",
            redact_url(value)
        ))
    };
    let (scheme, rest) = value.split_once("://").ok_or_else(not_a_url)?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return Err(not_a_url());
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(Error::config(format!(
            "config key `{key}`: a service URL may not hold a user name or password (`user:password@host`; not repeated here); remove it: the credentials belong in the profile"
        )));
    }
    if rest.is_empty() || rest.starts_with('/') || value.contains(char::is_whitespace) {
        return Err(not_a_url());
    }
    Ok(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        rest.trim_end_matches('/')
    ))
}

/// A URL without its user and password (`scheme://***@host...`), for messages and `Debug`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `%XX` escapes decoded (a password may hold `@`, `:` or `/`); `None` for a bad escape or
/// bytes that are not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `host[:port]`, with `[v6]` brackets; `None` for an empty host or a bad port.
pub(crate) fn host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after {
            "" => (h, default_port),
            p => (h, p.strip_prefix(':')?.parse().ok()?),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (s, default_port),
        }
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// A proxy from the configuration or the environment: `http://` (every request goes through a
/// `CONNECT` tunnel) or `socks5://` (also `socks5h://`, `socks://`; the target's name is sent to
/// the proxy, which resolves it); a URL without a scheme is an HTTP proxy. The user and password
/// (`%`-escaped in the URL) are never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct ProxyUrl {
    /// SOCKS5 rather than HTTP.
    pub socks: bool,
    /// The proxy's host (an IPv6 address without its brackets).
    pub host: String,
    /// The proxy's port (80 for HTTP, 1080 for SOCKS5 when the URL has none).
    pub port: u16,
    /// `user` and `password`, decoded.
    pub credentials: Option<(Zeroizing<String>, Zeroizing<String>)>,
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.socks { "socks5" } else { "http" };
        let who = if self.credentials.is_some() {
            "***@"
        } else {
            ""
        };
        write!(f, "{scheme}://{who}{}:{}", self.host, self.port)
    }
}

/// Reads a proxy URL; the error says what is wrong without repeating the URL.
pub(crate) fn parse_proxy_url(url: &str) -> std::result::Result<ProxyUrl, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), url),
    };
    let (socks, default_port) = match scheme.as_str() {
        "http" => (false, 80),
        "socks5" | "socks5h" | "socks" => (true, 1080),
        other => {
            return Err(format!(
                "unsupported scheme {other:?} (use http:// or socks5://)"
            ))
        }
    };
    if rest.contains(['?', '#']) {
        return Err("a proxy URL has no path, query or fragment".to_owned());
    }
    let authority = match rest.split_once('/') {
        None => rest,
        Some((authority, "")) => authority,
        Some(_) => return Err("a proxy URL has no path, query or fragment".to_owned()),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let credentials = match userinfo {
        None => None,
        Some(u) => {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let user = percent_decode(user).ok_or("bad %-escape in the user")?;
            let pass = percent_decode(pass).ok_or("bad %-escape in the password")?;
            Some((Zeroizing::new(user), Zeroizing::new(pass)))
        }
    };
    let (host, port) = host_port(hostport, default_port).ok_or("bad host or port")?;
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err("bad host".to_owned());
    }
    Ok(ProxyUrl {
        socks,
        host,
        port,
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::{check_url, redact_url};

    #[test]
    fn a_url_with_userinfo_is_refused_without_repeating_it() {
        for url in [
            "http://alice:S3cr3t@127.0.0.1:9/x",
            "https://alice@h",
            "HTTP://alice:S3cr3t@h",
        ] {
            let e = check_url(url, "urls.smartmarket").unwrap_err();
            assert!(!e.message.contains("S3cr3t"), "{}", e.message);
            assert!(!e.message.contains("alice"), "{}", e.message);
            assert!(
                e.message.contains("may not hold a user name or password"),
                "{}",
                e.message
            );
        }
        // `@` in the path is not userinfo.
        assert_eq!(check_url("https://h/a@b", "k").unwrap(), "https://h/a@b");
    }

    #[test]
    fn schemes_are_case_insensitive() {
        assert_eq!(
            check_url("HTTP://127.0.0.1:9/Path/", "k").unwrap(),
            "http://127.0.0.1:9/Path"
        );
        assert_eq!(check_url("Https://h", "k").unwrap(), "https://h");
        assert!(check_url("ftp://h", "k").is_err());
        assert!(check_url("httpx://h", "k").is_err());
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(
            redact_url("http://user:p%40ss@proxy:3128"),
            "http://***@proxy:3128"
        );
        assert_eq!(
            redact_url("redis://:hunter2@h:6379/1"),
            "redis://***@h:6379/1"
        );
        assert_eq!(redact_url("https://h/a@b"), "https://h/a@b");
        assert_eq!(redact_url("env"), "env");
    }
}
