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
