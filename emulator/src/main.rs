//! `suz-emulator`: run the emulator from the command line.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use suz_emulator::{Emulator, EmulatorConfig};

/// Emulates the Chestny ZNAK auth endpoints (SUZ registration, MDLP, GIS MT, True API) and Sber
/// SmartMarket OAuth + SmartPush on 127.0.0.1, with the state the real services keep.
///
/// The first line printed is `suz-emulator listening on http://127.0.0.1:PORT`.
#[derive(Parser, Debug)]
#[command(name = "suz-emulator", version, about, long_about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Listen on 127.0.0.1:PORT (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Serve HTTPS with a certificate from a CA generated at start.
    #[arg(long)]
    tls: bool,
    /// Write that CA certificate (PEM) to FILE.
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca_out: Option<PathBuf>,
    /// Accept signatures that are not GOST R 34.10-2012 (RSA, ECDSA), as production never does:
    /// every such answer says so in the request log, on stderr and in the console. Without it
    /// only GOST signatures pass, and the emulator needs OpenSSL's GOST engine to start.
    #[arg(long, conflicts_with = "require_gost")]
    allow_rsa: bool,
    /// Only GOST signatures: the default, named for scripts that ask for it.
    #[arg(long)]
    require_gost: bool,
    /// Intercepting mode: serve HTTPS for the real services' host names (markirovka.crpt.ru,
    /// suzgrid.crpt.ru, ismp.crpt.ru, api.mdlp.crpt.ru, salute.online.sberbank.ru, their
    /// sandboxes) with a certificate from the CA kept in DIR (made on first use), on
    /// --intercept-port and through CONNECT on --port (a proxy setting).
    #[arg(long, value_name = "DIR")]
    intercept: Option<PathBuf>,
    /// The intercepting HTTPS port on 127.0.0.1 (0 = any free port; 443 for a hosts-file entry).
    #[arg(long, value_name = "N", default_value_t = 443, requires = "intercept")]
    intercept_port: u16,
    /// Accept a signer certificate that has expired or is not valid yet.
    #[arg(long)]
    allow_expired_certificates: bool,
    /// Challenges and MDLP codes expire after N ms.
    #[arg(long, value_name = "N", default_value_t = EmulatorConfig::default().challenge_ttl_ms)]
    challenge_ttl_ms: u64,
    /// GIS MT and True API token lifetime in ms (default 10 hours).
    #[arg(long, value_name = "N", default_value_t = EmulatorConfig::default().gismt_token_ttl_ms)]
    token_ttl_ms: u64,
    /// MDLP token `life_time` in minutes (fractions allowed).
    #[arg(long, value_name = "F", default_value_t = EmulatorConfig::default().mdlp_life_time_minutes)]
    mdlp_life_time_minutes: f64,
    /// SmartMarket token lifetime in ms.
    #[arg(long, value_name = "N", default_value_t = EmulatorConfig::default().smartmarket_token_ttl_ms)]
    smartmarket_ttl_ms: u64,
    /// Send SmartMarket `expires_at` in seconds instead of milliseconds.
    #[arg(long)]
    smartmarket_expires_seconds: bool,
    /// Refuse (429) an MDLP `/auth` or `/token` within a second of the previous one of its
    /// kind, as MDLP does.
    #[arg(long)]
    mdlp_rate_limit: bool,
    /// Accept this registration key too (repeatable).
    #[arg(long = "registration-key", value_name = "UUID")]
    registration_keys: Vec<String>,
    /// Know this omsId too (repeatable).
    #[arg(long = "oms-id", value_name = "UUID")]
    oms_ids: Vec<String>,
    /// Pre-register this installation too (repeatable).
    #[arg(long = "oms-connection", value_name = "UUID")]
    oms_connections: Vec<String>,
}

impl Args {
    fn config(&self) -> EmulatorConfig {
        let mut config = EmulatorConfig {
            port: self.port,
            tls: self.tls,
            allow_rsa: self.allow_rsa,
            intercept: self.intercept.clone(),
            intercept_port: self.intercept_port,
            allow_expired_certificates: self.allow_expired_certificates,
            challenge_ttl_ms: self.challenge_ttl_ms,
            gismt_token_ttl_ms: self.token_ttl_ms,
            trueapi_token_ttl_ms: self.token_ttl_ms,
            mdlp_life_time_minutes: self.mdlp_life_time_minutes,
            smartmarket_token_ttl_ms: self.smartmarket_ttl_ms,
            smartmarket_expires_in_seconds: self.smartmarket_expires_seconds,
            mdlp_rate_limit: self.mdlp_rate_limit,
            ..Default::default()
        };
        config
            .registration_keys
            .extend(self.registration_keys.iter().cloned());
        config.oms_ids.extend(self.oms_ids.iter().cloned());
        config
            .oms_connections
            .extend(self.oms_connections.iter().cloned());
        config
    }
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Write the intercepting CA to DIR (ca.pem, and its key ca.key readable by you only), or
    /// keep the one already there, and print the certificate's path: trust that file once
    /// (the library's tls.extra_roots_pem, curl --cacert, the system's store).
    Ca {
        /// Where the CA is kept.
        dir: PathBuf,
    },
}

fn main() {
    let args = Args::parse();
    if let Some(Command::Ca { dir }) = &args.command {
        match suz_emulator::intercept::load_or_make_ca(dir) {
            Ok(_) => {
                println!("{}", dir.join("ca.pem").display());
                return;
            }
            Err(e) => {
                eprintln!("suz-emulator ca: {e}");
                std::process::exit(1);
            }
        }
    }
    let ca_out = args.ca_out.clone();
    if !(args.mdlp_life_time_minutes.is_finite() && args.mdlp_life_time_minutes > 0.0) {
        eprintln!("suz-emulator: --mdlp-life-time-minutes must be a positive number");
        std::process::exit(2);
    }
    let emulator = match Emulator::start(args.config()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("suz-emulator: {e}");
            std::process::exit(1);
        }
    };
    if let (Some(path), Some(pem)) = (&ca_out, emulator.ca_pem()) {
        if let Err(e) = std::fs::write(path, pem) {
            eprintln!("suz-emulator: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    let url = emulator.base_url();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "suz-emulator listening on {url}");
    if let (Some(port), Some(dir)) = (emulator.intercept_port(), &args.intercept) {
        let _ = writeln!(
            out,
            "  intercepting: https://127.0.0.1:{port} and CONNECT on {url} for {}; trust {}",
            suz_emulator::intercept::HOSTS
                .iter()
                .map(|(h, _)| *h)
                .collect::<Vec<_>>()
                .join(", "),
            dir.join("ca.pem").display()
        );
    }
    let _ = writeln!(
        out,
        "  library config: {{\"stand\": \"emulator\", \"emulator_url\": \"{url}\"}}\n\
         \n  SUZ          {url}/suz/api/v2/integration/connection?omsId=..., {url}/suz/api/v2/{{extension}}/ping, /version, /orders\n\
         \x20 MDLP         {url}/mdlp/api/v1/auth, /token/{{omsConnection}}\n\
         \x20 GIS MT       {url}/gismt/api/v3/auth/cert/key, /auth/cert/{{omsConnection}}\n\
         \x20 True API     {url}/trueapi/api/v3/true-api/auth/key, /auth/simpleSignIn/{{omsConnection}}\n\
         \x20 SmartMarket  {url}/smartmarket/api/v2/oauth, /smartpush/apprequest\n\
         \x20 admin        {url}/admin/stats, /admin/faults, /admin/revoke, /admin/settings, /admin/reset\n\
         \n  omsId {}  omsConnection {}\n  registration keys {} (signed), {} (pharma)\n\
         \x20 MDLP client {} / {}, password user {} / {}\n  SmartMarket client {} / {}\n\
         \x20 signatures: {}",
        suz_emulator::DEFAULT_OMS_ID,
        suz_emulator::DEFAULT_OMS_CONNECTION,
        suz_emulator::DEMO_REGISTRATION_KEY,
        suz_emulator::PHARMA_REGISTRATION_KEY,
        suz_emulator::MDLP_CLIENT_ID,
        suz_emulator::MDLP_CLIENT_SECRET,
        suz_emulator::MDLP_PASSWORD_USER,
        suz_emulator::MDLP_PASSWORD,
        suz_emulator::SMARTMARKET_CLIENT_ID,
        suz_emulator::SMARTMARKET_CLIENT_SECRET,
        if args.allow_rsa {
            "GOST, RSA and ECDSA accepted (--allow-rsa: production accepts GOST only)"
        } else {
            "GOST R 34.10-2012 only, as in production"
        },
    );
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
