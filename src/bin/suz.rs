//! `suz`: the library for operators and shell scripts, over the same code as the C ABI.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;
use suz_auth::ffi::SuzResult;
use suz_auth::token::now_ms;
use suz_auth::{Client, Error, Level, Token};

const USAGE: &str = "\
usage: suz [--config FILE] [--json] [--log LEVEL] COMMAND

commands:
  token PROFILE [--threads N]          print the profile's token (cached or fetched);
                                       --threads: N concurrent requests in this process
  request PROFILE METHOD PATH [BODY]   an authorized call; prints the body (status on stderr)
  inspect                              cached tokens, masked, with their expiry
  purge                                delete every cached token (lock files stay)

options:
  --config FILE   the JSON configuration (default: $SUZ_AUTH_CONFIG)
  --json          print JSON instead of text
  --log LEVEL     log to stderr: error, warn, info or debug

exit status: 0 success, 1 failure (result code and message on stderr), 2 usage";

struct Options {
    config: Option<String>,
    json: bool,
    log: Option<Level>,
    args: Vec<String>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        config: std::env::var("SUZ_AUTH_CONFIG").ok(),
        json: false,
        log: None,
        args: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => options.config = Some(args.next().ok_or("--config needs a file")?),
            "--json" => options.json = true,
            "--log" => {
                options.log = Some(match args.next().as_deref() {
                    Some("error") => Level::Error,
                    Some("warn") => Level::Warn,
                    Some("info") => Level::Info,
                    Some("debug") => Level::Debug,
                    _ => return Err("--log needs error, warn, info or debug".into()),
                })
            }
            "-h" | "--help" => return Err(String::new()),
            _ => options.args.push(arg),
        }
    }
    Ok(options)
}

fn fail(e: &Error) -> ExitCode {
    let code = SuzResult::from(e.kind);
    let name = unsafe { std::ffi::CStr::from_ptr(suz_auth::ffi::suz_result_name(code as u32)) };
    eprintln!("suz: {}: {e}", name.to_string_lossy());
    ExitCode::from(1)
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

fn run(options: &Options) -> Result<ExitCode, Error> {
    let path = options.config.as_deref().ok_or_else(|| {
        Error::config("no configuration: pass --config FILE or set SUZ_AUTH_CONFIG")
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read {path}: {e}")))?;
    let client = Arc::new(Client::from_json(&text)?);
    let args: Vec<&str> = options.args.iter().map(String::as_str).collect();
    let mut out = std::io::stdout().lock();
    match args.as_slice() {
        ["token", profile, rest @ ..] => {
            let threads = match rest {
                [] => 1,
                ["--threads", n] => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| Error::invalid_argument("--threads takes 1 to 1024"))?,
                _ => return Ok(usage()),
            };
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let client = client.clone();
                    let profile = profile.to_string();
                    std::thread::spawn(move || client.token_get(&profile))
                })
                .collect();
            for handle in handles {
                let token = handle
                    .join()
                    .map_err(|_| Error::new(suz_auth::ErrorKind::Panic, "a thread panicked"))??;
                if options.json {
                    let _ = writeln!(out, "{}", token_json(profile, &token));
                } else {
                    let _ = writeln!(out, "{}", token.value());
                }
            }
        }
        ["request", profile, method, path, rest @ ..] => {
            let body = match rest {
                [] => None,
                [body] => Some(body.as_bytes()),
                _ => return Ok(usage()),
            };
            let response = client.request(profile, method, path, body)?;
            let text = String::from_utf8_lossy(&response.body);
            if options.json {
                let body = serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or(serde_json::Value::String(text.to_string()));
                let _ = writeln!(out, "{}", json!({"status": response.status, "body": body}));
            } else {
                eprintln!("HTTP {}", response.status);
                let _ = writeln!(out, "{text}");
            }
            if !(200..300).contains(&response.status) {
                return Ok(ExitCode::from(1));
            }
        }
        ["inspect"] => {
            let Some(store) = client.tokens()?.file_store() else {
                let _ = writeln!(
                    out,
                    "persistence is off (cache.persist = false): nothing stored"
                );
                return Ok(ExitCode::SUCCESS);
            };
            let now = now_ms();
            let entries = store.entries();
            if options.json {
                let list: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        json!({"label": e.label, "flow": e.flow, "token": e.masked_value,
                               "obtained_at_ms": e.obtained_at_ms, "expires_at_ms": e.expires_at_ms,
                               "expired": e.expires_at_ms <= now, "file": e.file})
                    })
                    .collect();
                let _ = writeln!(out, "{}", json!({"dir": store.dir(), "tokens": list}));
            } else {
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
            }
        }
        ["purge"] => {
            let removed = match client.tokens()?.file_store() {
                Some(store) => store.purge()?,
                None => 0,
            };
            if options.json {
                let _ = writeln!(out, "{}", json!({"removed": removed}));
            } else {
                let _ = writeln!(out, "removed {removed} cached token(s)");
            }
        }
        _ => return Ok(usage()),
    }
    Ok(ExitCode::SUCCESS)
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("suz: {message}");
            }
            return usage();
        }
    };
    if let Some(level) = options.log {
        suz_auth::set_logger(
            level,
            Some(Arc::new(|level: Level, message: &str| {
                eprintln!("suz [{}] {message}", level.name())
            })),
        );
    }
    match run(&options) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}
