//! The settings' value types and parsers shared by the config's sections: durations in
//! milliseconds, the trust anchors, the signing command.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Which trust anchors verify server certificates (besides `extra_roots_pem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustRoots {
    /// The operating system's store (default).
    Platform,
    /// Mozilla's roots compiled into the library.
    WebPki,
}

/// An external signing command: data on stdin (or `{in}`), signature on stdout (or `{out}`).
#[derive(Clone)]
pub struct CommandConfig {
    /// Command line (program, then arguments) for attached signatures; `{in}` and `{out}` arguments
    /// are replaced by temporary file paths.
    pub attached: Vec<String>,
    /// Command line for detached signatures, with the same `{in}` and `{out}` placeholders.
    pub detached: Vec<String>,
    /// How long one run may take before the command is killed (`timeout_ms`, default 60 000 ms).
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSigner {
    command: Option<RawCommand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    attached: Vec<String>,
    detached: Vec<String>,
    timeout_ms: Option<u64>,
}

/// The largest value any `*_ms` setting takes: a day. Larger values are mistakes (and some
/// would overflow the arithmetic on them).
pub const MAX_MS: u64 = 24 * 3600 * 1000;

/// A `*_ms` setting: `default` when absent (a default derived from another setting may exceed
/// a day), an error naming `key` when a given value is over [`MAX_MS`] or (with `nonzero`)
/// zero.
pub(crate) fn millis(
    value: Option<u64>,
    default: u64,
    key: &str,
    nonzero: bool,
) -> Result<Duration> {
    let Some(ms) = value else {
        return Ok(Duration::from_millis(default));
    };
    if ms > MAX_MS {
        return Err(Error::config(format!(
            "config key `{key}`: {ms} ms is more than a day ({MAX_MS} ms)"
        )));
    }
    if nonzero && ms == 0 {
        return Err(Error::config(format!(
            "config key `{key}`: must be greater than zero"
        )));
    }
    Ok(Duration::from_millis(ms))
}

pub(crate) fn parse_command(raw: Option<RawSigner>, key: &str) -> Result<Option<CommandConfig>> {
    match raw.and_then(|s| s.command) {
        None => Ok(None),
        Some(cmd) => {
            if cmd.attached.is_empty() || cmd.detached.is_empty() {
                return Err(Error::config(format!(
                    "config key `{key}`: `attached` and `detached` must each be a non-empty argv array"
                )));
            }
            Ok(Some(CommandConfig {
                attached: cmd.attached,
                detached: cmd.detached,
                timeout: millis(cmd.timeout_ms, 60_000, &format!("{key}.timeout_ms"), true)?,
            }))
        }
    }
}
