//! Base URL values: a stand name or an absolute http(s) URL.

use super::Service;
use crate::error::{Error, Result};

pub(super) fn resolve_url_value(service: Service, value: &str, key: &str) -> Result<String> {
    if let Some(url) = service.stand_url(value) {
        return Ok(url.to_owned());
    }
    check_url(value, key)
}

/// Checks that a value is an absolute http(s) URL and returns it without a trailing slash.
pub(super) fn check_url(value: &str, key: &str) -> Result<String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !value.contains(char::is_whitespace) =>
        {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(Error::config(format!(
            "config key `{key}`: {value:?} is neither a stand name nor an http(s) URL"
        ))),
    }
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

#[cfg(test)]
mod tests {
    use super::redact_url;

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
