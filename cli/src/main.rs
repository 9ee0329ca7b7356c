//! `suz`: suz-auth for operators and shell scripts, over the same Rust library as the C ABI.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

mod diag;
mod metrics;
mod service;
use serde_json::json;
use suz_auth_core::token::{now_ms, RedisReport};
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

    /// Write the lines meant for stderr (log lines, the keeper's lines, errors) to this file
    /// instead, appended, each with its UTC time: for a service, which has no console.
    #[arg(long, global = true, value_name = "FILE")]
    log_file: Option<PathBuf>,

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
        /// Ask N times in a row (each thread), one line each; a failure prints
        /// `error CODE: message` and goes on (the exit status is 1 if any failed).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Between two asks of a thread, wait this many ms.
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
    },
    /// Keep the listed profiles' tokens fresh in the shared store (files, Redis), ahead of
    /// each refresh margin: run where the key is. Consumers elsewhere use the same config with
    /// `"served_by_keeper": true` and no signer; they never sign. A line per fetch and per
    /// failure (with backoff) on stderr.
    Keep {
        /// The profiles to keep (default: every profile `served_by_keeper`).
        profiles: Vec<String>,
        /// How often to look at each profile's token, in ms.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
        interval_ms: u64,
        /// Stop after this many ms (default: run until killed).
        #[arg(long)]
        for_ms: Option<u64>,
        /// Serve Prometheus text at `http://ADDR/metrics` (e.g. 127.0.0.1:9464): fetches,
        /// failures by result code, seconds until each token and certificate expires.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
        /// Run as the Windows service NAME (started by the service control manager: `sc.exe
        /// create NAME binPath= "…\suz.exe --config … --log-file … keep --service NAME"`);
        /// stops on the service's Stop control. Windows only.
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
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
    /// List the cached tokens, masked, with their expiry: the file store's and Redis's (with
    /// the locks held there).
    Inspect,
    /// Each profile: its flow, the cached token (masked) with its expiry and next refresh, and
    /// the certificate that signed for it (holder, INN, thumbprint, days left). Reads the cache;
    /// fetches nothing.
    Status,
    /// Check the configuration, the cache directory and Redis (connection, TLS, ACL user,
    /// clock skew); exit status 1 if a check fails.
    Doctor,
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
    if let Some(path) = &cli.log_file {
        if let Err(e) = diag::to_file(path) {
            eprintln!("suz: --log-file {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if let Some(level) = cli.log {
        // Not from inside a logger, so it cannot fail.
        let _ = suz_auth_core::set_logger(
            level.into(),
            Some(Arc::new(|level: Level, message: &str| {
                say!("suz [{}] {message}", level.name())
            })),
        );
    }
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            say!("suz: {}: {e}", e.kind.name());
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
        Command::Token {
            profile,
            threads,
            repeat: 1,
            ..
        } => {
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
        Command::Token {
            profile,
            threads,
            repeat,
            interval_ms,
        } => {
            // The threads' lines reach this thread, which holds stdout.
            let (lines, received) = std::sync::mpsc::channel::<String>();
            let handles: Vec<_> = (0..*threads)
                .map(|_| {
                    let (client, profile, lines) = (client.clone(), profile.clone(), lines.clone());
                    let (repeat, pause, json) = (*repeat, *interval_ms, cli.json);
                    std::thread::spawn(move || {
                        let mut failed = false;
                        for i in 0..repeat {
                            if i > 0 && pause > 0 {
                                std::thread::sleep(std::time::Duration::from_millis(pause));
                            }
                            let line = match client.token_get(&profile) {
                                Ok(t) if json => token_json(&profile, &t).to_string(),
                                Ok(t) => t.value().to_owned(),
                                Err(e) => {
                                    failed = true;
                                    format!("error {}: {e}", e.kind.name())
                                }
                            };
                            let _ = lines.send(line);
                        }
                        failed
                    })
                })
                .collect();
            drop(lines);
            for line in received {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            let mut failed = false;
            for handle in handles {
                failed |= handle.join().unwrap_or(true);
            }
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Keep {
            profiles,
            interval_ms,
            for_ms,
            metrics,
            service: None,
        } => {
            // Never stopped but by --for-ms or the process's end.
            let (_running, stop) = std::sync::mpsc::channel();
            keep(
                &client,
                profiles,
                *interval_ms,
                *for_ms,
                metrics.as_deref(),
                &stop,
            )?
        }
        Command::Keep {
            profiles,
            interval_ms,
            for_ms,
            metrics,
            service: Some(name),
        } => {
            let (client, profiles, metrics) = (client.clone(), profiles.clone(), metrics.clone());
            let (interval_ms, for_ms) = (*interval_ms, *for_ms);
            service::run(
                name,
                Box::new(move |stop| {
                    keep(
                        &client,
                        &profiles,
                        interval_ms,
                        for_ms,
                        metrics.as_deref(),
                        &stop,
                    )
                }),
            )?
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
        Command::Status => status(&client, cli.json, &mut out)?,
        Command::Doctor => {
            if !doctor(&client, cli.json, &mut out) {
                return Ok(ExitCode::from(1));
            }
        }
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

/// The Redis store's state as JSON: server, tokens (masked) and locks.
fn redis_json(r: &RedisReport) -> serde_json::Value {
    json!({
        "server": r.server, "tls": r.tls, "user": r.username,
        "ping_us": r.ping_us as u64, "clock_skew_ms": r.clock_skew_ms,
        "tokens": r.tokens.iter().map(|(label, flow, token, expires_at_ms)| json!({
            "label": label, "flow": flow, "token": token, "expires_at_ms": expires_at_ms,
        })).collect::<Vec<_>>(),
        "locks": r.locks.iter().map(|(key, left_ms)| json!({
            "key": key, "expires_in_ms": left_ms,
        })).collect::<Vec<_>>(),
    })
}

/// `suz keep`: every `interval_ms`, each profile's token is looked at and fetched when due or
/// missing from the store; a failure is retried after a backoff doubling from the interval to
/// five minutes (the valid token stays in the store meanwhile). A line per fetch and failure.
fn keep(
    client: &Client,
    profiles: &[String],
    interval_ms: u64,
    for_ms: Option<u64>,
    metrics_at: Option<&str>,
    stop: &std::sync::mpsc::Receiver<()>,
) -> Result<(), Error> {
    let names: Vec<String> = if profiles.is_empty() {
        client
            .config()
            .profiles
            .values()
            .filter(|p| p.served_by_keeper)
            .map(|p| p.name.clone())
            .collect()
    } else {
        for name in profiles {
            client.profile(name)?;
        }
        profiles.to_vec()
    };
    if names.is_empty() {
        return Err(Error::invalid_argument(
            "nothing to keep: name the profiles, or mark them \"served_by_keeper\": true",
        ));
    }
    client.set_keeper(true);
    let figures: metrics::Figures = Default::default();
    if let Some(addr) = metrics_at {
        let bound = metrics::serve(addr, figures.clone()).map_err(|e| {
            Error::invalid_argument(format!("--metrics {addr}: cannot listen there: {e}"))
        })?;
        say!("suz keep: metrics at http://{bound}/metrics");
    }
    let interval = std::time::Duration::from_millis(interval_ms);
    let until = for_ms.map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms));
    let mut next_try: Vec<(std::time::Instant, std::time::Duration)> =
        vec![(std::time::Instant::now(), interval); names.len()];
    // Each profile's last look, for the heartbeat.
    let mut looks = serde_json::Map::new();
    say!("suz keep: keeping {}", names.join(", "));
    loop {
        let now = std::time::Instant::now();
        if until.is_some_and(|s| now >= s) {
            return Ok(());
        }
        for (name, (at, backoff)) in names.iter().zip(next_try.iter_mut()) {
            if now < *at {
                continue;
            }
            let result = client.keep_profile(name);
            looks.insert(
                name.clone(),
                match &result {
                    Ok(_) => json!({"at_ms": now_ms(), "outcome": "ok"}),
                    Err(e) => json!({"at_ms": now_ms(), "outcome": e.kind.name(),
                                     "server_code": e.server_code, "server_message": e.server_message}),
                },
            );
            {
                let mut all = figures.lock().unwrap_or_else(|e| e.into_inner());
                let f = all.entry(name.clone()).or_default();
                match &result {
                    Ok(look) => {
                        f.fetches += u64::from(look.fetched);
                        f.recoveries += u64::from(look.recovered);
                        f.waits += u64::from(look.waited);
                        let token = &look.token;
                        f.token_expires_at_ms = Some(token.expires_at_ms());
                        if let Some(c) = token.certificate() {
                            f.certificate_expires_at_ms = Some(c.not_after_ms);
                        }
                        f.last_success_ms = Some(now_ms());
                    }
                    Err(e) => *f.failures.entry(e.kind.name().to_owned()).or_default() += 1,
                }
            }
            match result {
                Ok(look) => {
                    if look.fetched {
                        say!(
                            "suz keep: {name}: fetched {} (expires at {} ms){}",
                            look.token.masked(),
                            look.token.expires_at_ms(),
                            if look.recovered {
                                "; the previous one was dropped by a consumer (a 401)"
                            } else {
                                ""
                            }
                        );
                    }
                    *backoff = interval;
                    *at = now + interval;
                }
                Err(e) => {
                    *backoff = (*backoff * 2).min(std::time::Duration::from_secs(300));
                    *at = now + *backoff;
                    say!(
                        "suz keep: {name}: {}: {e}; next try in {} ms",
                        e.kind.name(),
                        backoff.as_millis()
                    );
                }
            }
        }
        // The heartbeat the consumers' status shows: this keeper is alive, and how each
        // profile's last look went. Redis keeps it a little longer than three intervals.
        let heartbeat = json!({"pid": std::process::id(), "at_ms": now_ms(), "profiles": looks});
        if let Err(e) = client.tokens().and_then(|t| {
            t.put_heartbeat(&heartbeat, interval * 3 + std::time::Duration::from_secs(1))
        }) {
            say!("suz keep: the heartbeat: {}: {e}", e.kind.name());
        }
        // Until the next look, or a stop (a Windows service's Stop control).
        if stop.recv_timeout(interval).is_ok() {
            say!("suz keep: stopped");
            return Ok(());
        }
    }
}

fn status(client: &Client, as_json: bool, out: &mut impl Write) -> Result<(), Error> {
    let status = client.status()?;
    if as_json {
        let _ = writeln!(out, "{status}");
        return Ok(());
    }
    let now = status["now_ms"].as_i64().unwrap_or(0);
    let keeper = &status["keeper"];
    if !keeper.is_null() {
        let _ = writeln!(
            out,
            "keeper: pid {}, last seen {} s ago",
            keeper["pid"],
            keeper["age_ms"].as_i64().unwrap_or(0) / 1000
        );
    }
    for p in status["profiles"].as_array().into_iter().flatten() {
        let name = p["profile"].as_str().unwrap_or("");
        let flow = p["flow"].as_str().unwrap_or("");
        let token = &p["token"];
        let state = if token.is_null() {
            "no cached token".to_owned()
        } else {
            let left = (token["expires_at_ms"].as_i64().unwrap_or(0) - now) / 1000;
            let refresh = (token["refresh_at_ms"].as_i64().unwrap_or(0) - now) / 1000;
            if left <= 0 {
                format!("{} expired", token["masked"].as_str().unwrap_or(""))
            } else {
                format!(
                    "{} expires in {left} s, refreshed in {} s",
                    token["masked"].as_str().unwrap_or(""),
                    refresh.max(0)
                )
            }
        };
        let _ = writeln!(out, "{name:<20} {flow:<14} {state}");
        let c = &p["certificate"];
        if !c.is_null() {
            let inn = c["inn_le"]
                .as_str()
                .or(c["inn"].as_str())
                .unwrap_or("no INN");
            let _ = writeln!(
                out,
                "{:<20} certificate of {}, INN {inn}, thumbprint {}, {} days left",
                "",
                c["subject"].as_str().unwrap_or(""),
                c["thumbprint"].as_str().unwrap_or(""),
                c["days_left"]
            );
        }
    }
    Ok(())
}

fn inspect(client: &Client, as_json: bool, out: &mut impl Write) -> Result<(), Error> {
    let redis = client.tokens()?.redis_report().transpose()?;
    let Some(store) = client.tokens()?.file_store()? else {
        if as_json {
            let redis = redis.as_ref().map(redis_json);
            let _ = writeln!(
                out,
                "{}",
                json!({"dir": null, "tokens": [], "redis": redis})
            );
            return Ok(());
        }
        let _ = writeln!(
            out,
            "persistence is off (cache.persist = false): nothing stored on this machine"
        );
        if let Some(r) = &redis {
            print_redis(r, out);
        }
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
        let redis = redis.as_ref().map(redis_json);
        let _ = writeln!(
            out,
            "{}",
            json!({"dir": store.dir(), "tokens": list, "redis": redis})
        );
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
    if let Some(r) = &redis {
        print_redis(r, out);
    }
    Ok(())
}

fn print_redis(r: &RedisReport, out: &mut impl Write) {
    let now = now_ms();
    let _ = writeln!(out, "redis: {}", describe_redis(r));
    for (label, flow, token, expires_at_ms) in &r.tokens {
        let left = (expires_at_ms - now) / 1000;
        let _ = writeln!(
            out,
            "{label:<52} {flow:<12} {token:<20} expires in {left} s"
        );
    }
    if r.tokens.is_empty() {
        let _ = writeln!(out, "(no tokens in Redis)");
    }
    for (key, left_ms) in &r.locks {
        let _ = writeln!(out, "lock {key}: held, expires in {left_ms} ms");
    }
}

fn describe_redis(r: &RedisReport) -> String {
    let mut text = r.server.clone();
    if r.tls {
        text.push_str(", TLS");
    }
    if let Some(user) = &r.username {
        text.push_str(&format!(", user {user:?}"));
    }
    text
}

/// How far this machine's clock may be from Redis's before `doctor` warns: tokens carry
/// expiry times from the clock of the machine that fetched them.
const CLOCK_SKEW_WARNING_MS: i64 = 1000;

/// Prints one line per check; `false` if one failed.
fn doctor(client: &Client, as_json: bool, out: &mut impl Write) -> bool {
    let mut checks: Vec<(&str, &str, String)> = Vec::new();
    let mut ok = true;
    let tokens = match client.tokens() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(out, "FAIL  cache: {e}");
            return false;
        }
    };
    match tokens.file_store() {
        Ok(Some(store)) => checks.push(("ok", "cache", store.dir().display().to_string())),
        Ok(None) => checks.push(("ok", "cache", "persistence off (memory only)".into())),
        Err(e) => {
            ok = false;
            checks.push(("FAIL", "cache", e.to_string()));
        }
    }
    match tokens.redis_report() {
        None => checks.push(("ok", "redis", "not configured".into())),
        Some(Err(e)) => {
            ok = false;
            checks.push(("FAIL", "redis", e.to_string()));
        }
        Some(Ok(r)) => {
            checks.push((
                "ok",
                "redis",
                format!(
                    "{}: ping {:.2} ms, {} token(s), {} lock(s) held",
                    describe_redis(&r),
                    r.ping_us as f64 / 1000.0,
                    r.tokens.len(),
                    r.locks.len()
                ),
            ));
            let skew = r.clock_skew_ms;
            let status = if skew.abs() > CLOCK_SKEW_WARNING_MS {
                "warn"
            } else {
                "ok"
            };
            checks.push((
                status,
                "clock",
                format!(
                    "Redis's clock is {skew:+} ms from this machine's (warned beyond ±{CLOCK_SKEW_WARNING_MS} ms: token expiry times come from the fetching machine's clock)"
                ),
            ));
        }
    }
    if as_json {
        let list: Vec<_> = checks
            .iter()
            .map(
                |(status, what, detail)| json!({"check": what, "status": status, "detail": detail}),
            )
            .collect();
        let _ = writeln!(out, "{}", json!({"ok": ok, "checks": list}));
    } else {
        for (status, what, detail) in &checks {
            let _ = writeln!(out, "{status:<5} {what}: {detail}");
        }
    }
    ok
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
