//! `suz`: suz-auth for operators and shell scripts, over the same Rust library as the C ABI.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use suz_auth_core::token::now_ms;
use suz_auth_core::{Client, Error, ErrorKind, Level, Token};

/// Obtains and keeps SUZ and SmartMarket tokens: one live token per installation, cached and
/// shared by every thread, process and machine that uses the same store.
///
/// Exit status: 0 success, 1 failure (the result code and message on stderr), 2 usage.
#[derive(Parser, Debug)]
#[command(name = "suz", version, about, long_about = None)]
struct Cli {
    /// The JSON configuration file [default: $SUZ_AUTH_CONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Log to stderr up to this level.
    #[arg(long, global = true, value_name = "LEVEL")]
    log: Option<LogLevel>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the profile's token (cached, or fetched once for everyone).
    Token {
        /// The profile, as named under `profiles` in the config.
        profile: String,
        /// Ask for the token from N threads at once in this process (they share one fetch).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: u16,
    },
    /// An authorized call with the profile's token; prints the body (the status on stderr).
    Request {
        /// The profile, as named under `profiles` in the config.
        profile: String,
        /// GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// Relative to the API's base URL, e.g. /api/v2/pharma/ping.
        path: String,
        /// A JSON body.
        body: Option<String>,
    },
    /// List the cached tokens, masked, with their expiry.
    Inspect,
    /// Delete every cached token, fetch marker and record of a finished operation (lock files
    /// stay).
    Purge,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl From<LogLevel> for Level {
    fn from(l: LogLevel) -> Level {
        match l {
            LogLevel::Error => Level::Error,
            LogLevel::Warn => Level::Warn,
            LogLevel::Info => Level::Info,
            LogLevel::Debug => Level::Debug,
        }
    }
}

fn main() -> ExitCode {
    // Arguments first: `--help`, `--version` and usage errors never need a config.
    let cli = Cli::parse();
    if let Some(level) = cli.log {
        // Not from inside a logger, so it cannot fail.
        let _ = suz_auth_core::set_logger(
            level.into(),
            Some(Arc::new(|level: Level, message: &str| {
                eprintln!("suz [{}] {message}", level.name())
            })),
        );
    }
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("suz: {}: {e}", e.kind.name());
            ExitCode::from(1)
        }
    }
}

fn client(cli: &Cli) -> Result<Arc<Client>, Error> {
    // An empty SUZ_AUTH_CONFIG counts as unset.
    let from_env = std::env::var_os("SUZ_AUTH_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let path = cli.config.clone().or(from_env).ok_or_else(|| {
        Error::config("no configuration: pass --config FILE or set SUZ_AUTH_CONFIG")
    })?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::config(format!("cannot read {}: {e}", path.display())))?;
    Ok(Arc::new(Client::from_json(&text)?))
}

fn run(cli: &Cli) -> Result<ExitCode, Error> {
    let client = client(cli)?;
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Token { profile, threads } => {
            let handles: Vec<_> = (0..*threads)
                .map(|_| {
                    let client = client.clone();
                    let profile = profile.clone();
                    std::thread::spawn(move || client.token_get(&profile))
                })
                .collect();
            for handle in handles {
                let token = handle
                    .join()
                    .map_err(|_| Error::new(ErrorKind::Panic, "a thread panicked"))??;
                let line = if cli.json {
                    token_json(profile, &token).to_string()
                } else {
                    token.value().to_owned()
                };
                let _ = writeln!(out, "{line}");
            }
        }
        Command::Request {
            profile,
            method,
            path,
            body,
        } => {
            let response =
                client.request(profile, method, path, body.as_deref().map(str::as_bytes))?;
            let text = String::from_utf8_lossy(&response.body);
            if cli.json {
                let body = serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or(serde_json::Value::String(text.to_string()));
                let _ = writeln!(out, "{}", json!({"status": response.status, "body": body}));
            } else {
                eprintln!("HTTP {}", response.status);
                let _ = writeln!(out, "{text}");
            }
            if !response.is_success() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Inspect => inspect(&client, cli.json, &mut out)?,
        Command::Purge => {
            let removed = match client.tokens()?.file_store()? {
                Some(store) => store.purge()?,
                None => 0,
            };
            let line = if cli.json {
                json!({"removed": removed}).to_string()
            } else {
                format!("removed {removed} cached token(s)")
            };
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(client: &Client, as_json: bool, out: &mut impl Write) -> Result<(), Error> {
    let Some(store) = client.tokens()?.file_store()? else {
        let _ = writeln!(
            out,
            "persistence is off (cache.persist = false): nothing stored"
        );
        return Ok(());
    };
    let now = now_ms();
    let entries = store.entries();
    if as_json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                json!({"label": e.label, "flow": e.flow, "token": e.masked_value,
                       "obtained_at_ms": e.obtained_at_ms, "expires_at_ms": e.expires_at_ms,
                       "expired": e.expires_at_ms <= now, "file": e.file})
            })
            .collect();
        let _ = writeln!(out, "{}", json!({"dir": store.dir(), "tokens": list}));
        return Ok(());
    }
    let _ = writeln!(out, "store: {}", store.dir().display());
    for e in &entries {
        let left = (e.expires_at_ms - now) / 1000;
        let state = if left > 0 {
            format!("expires in {left} s")
        } else {
            "expired".into()
        };
        let _ = writeln!(
            out,
            "{:<52} {:<12} {:<20} {state}",
            e.label, e.flow, e.masked_value
        );
    }
    if entries.is_empty() {
        let _ = writeln!(out, "(no cached tokens)");
    }
    Ok(())
}

fn token_json(profile: &str, t: &Token) -> serde_json::Value {
    json!({
        "profile": profile,
        "flow": t.flow().name(),
        "value": t.value(),
        "obtained_at_ms": t.obtained_at_ms(),
        "expires_at_ms": t.expires_at_ms(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
