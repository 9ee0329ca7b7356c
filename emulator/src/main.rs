//! `suz-emulator`: run the emulator from the command line.

use std::io::Write;

use suz_emulator::{Emulator, EmulatorConfig};

const USAGE: &str = "\
usage: suz-emulator [options]

  --port N                        listen on 127.0.0.1:N (0 = any free port; default 8080)
  --tls                           serve HTTPS with a certificate from a generated CA
  --ca-out FILE                   write that CA certificate (PEM) to FILE
  --require-gost                  refuse to start without OpenSSL's GOST engine, and refuse
                                  signatures that are not GOST R 34.10-2012
  --challenge-ttl-ms N            challenges and MDLP codes expire after N ms (default 300000)
  --token-ttl-ms N                GIS MT and True API token lifetime (default 10 hours)
  --mdlp-life-time-minutes F      MDLP life_time (default 30)
  --smartmarket-ttl-ms N          SmartMarket token lifetime (default 30 minutes)
  --smartmarket-expires-seconds   send expires_at in seconds instead of milliseconds
  --registration-key UUID         accept this registration key too (repeatable)
  --oms-id UUID                   know this omsId too (repeatable)
  --oms-connection UUID           pre-register this installation too (repeatable)";

fn parse() -> Result<(EmulatorConfig, Option<String>), String> {
    let mut config = EmulatorConfig {
        port: 8080,
        ..Default::default()
    };
    let mut ca_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |v: String, name: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                config.port = v.parse().map_err(|_| format!("--port: not a port: {v}"))?;
            }
            "--tls" => config.tls = true,
            "--ca-out" => ca_out = Some(value("--ca-out")?),
            "--require-gost" => config.require_gost = true,
            "--challenge-ttl-ms" => config.challenge_ttl_ms = number(value(&arg)?, &arg)?,
            "--token-ttl-ms" => {
                let v = number(value(&arg)?, &arg)?;
                config.gismt_token_ttl_ms = v;
                config.trueapi_token_ttl_ms = v;
            }
            "--mdlp-life-time-minutes" => {
                let v = value(&arg)?;
                config.mdlp_life_time_minutes =
                    v.parse().map_err(|_| format!("{arg}: not a number: {v}"))?;
            }
            "--smartmarket-ttl-ms" => config.smartmarket_token_ttl_ms = number(value(&arg)?, &arg)?,
            "--smartmarket-expires-seconds" => config.smartmarket_expires_in_seconds = true,
            "--registration-key" => config.registration_keys.push(value(&arg)?),
            "--oms-id" => config.oms_ids.push(value(&arg)?),
            "--oms-connection" => config.oms_connections.push(value(&arg)?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((config, ca_out))
}

fn main() {
    let (config, ca_out) = match parse() {
        Ok(c) => c,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("suz-emulator: {message}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let emulator = match Emulator::start(config.clone()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("suz-emulator: {e}");
            std::process::exit(1);
        }
    };
    if let (Some(path), Some(pem)) = (&ca_out, emulator.ca_pem()) {
        if let Err(e) = std::fs::write(path, pem) {
            eprintln!("suz-emulator: cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
    let url = emulator.base_url();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "suz-emulator listening on {url}");
    let _ = writeln!(
        out,
        "  library config: {{\"stand\": \"emulator\", \"emulator_url\": \"{url}\"}}\n\
         \n  SUZ          {url}/suz/api/v2/integration/connection?omsId=..., {url}/suz/api/v2/{{extension}}/ping\n\
         \x20 MDLP         {url}/mdlp/api/v1/auth, /token/{{omsConnection}}\n\
         \x20 GIS MT       {url}/gismt/api/v3/auth/cert/key, /auth/cert/{{omsConnection}}\n\
         \x20 True API     {url}/trueapi/api/v3/true-api/auth/key, /auth/simpleSignIn/{{omsConnection}}\n\
         \x20 SmartMarket  {url}/smartmarket/api/v2/oauth, /smartpush/apprequest\n\
         \x20 admin        {url}/admin/stats, /admin/faults, /admin/revoke, /admin/settings, /admin/reset\n\
         \n  omsId {}  omsConnection {}\n  registration keys {} (signed), {} (pharma)\n\
         \x20 MDLP client {} / {}, password user {} / {}\n  SmartMarket client {} / {}\n\
         \x20 GOST signature checks: {}",
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
        if suz_emulator::gost_available() { "on" } else { "off (install libengine-gost-openssl)" },
    );
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
