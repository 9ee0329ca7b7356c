//! suz-emulator: a local server that speaks every endpoint suz-auth uses — SUZ installation
//! registration and a protected SUZ call, MDLP, GIS MT and True API authentication, Sber
//! SmartMarket OAuth and SmartPush — with the state the real services keep: known registration
//! keys and omsIds, one live token per omsConnection (a new one revokes the old), challenges
//! and codes that are single-use and expire. Signatures are verified with OpenSSL (GOST R
//! 34.10-2012 through the GOST engine). An admin API injects faults and reports counters.
//!
//! Run it as `suz-emulator --port 0`, or start it in-process with [`Emulator::start`].

mod admin;
mod cms;
mod faults;
mod gzip;
pub mod intercept;
mod mask;
mod reply;
mod routes;
mod server;
mod state;

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use cms::gost_available;
use state::State;

/// The public demo registration key of the CRPT instruction; needs `X-Signature`.
pub const DEMO_REGISTRATION_KEY: &str = "4344d884-7f21-456c-981e-cd68e92391e8";
/// A registration key of the pharma group: no `X-Signature` needed.
pub const PHARMA_REGISTRATION_KEY: &str = "a1f3c2d4-0b5e-4c6f-8d7a-9e0b1c2d3e4f";
/// The SUZ instance the emulator knows.
pub const DEFAULT_OMS_ID: &str = "cdf12109-10d3-11e6-8b6f-0050569977a1";
/// A pre-registered installation.
pub const DEFAULT_OMS_CONNECTION: &str = "11b1abc9-f4ee-47db-8a20-f80ac83504e8";
/// MDLP accounting-system credentials (from the instruction's examples).
pub const MDLP_CLIENT_ID: &str = "7df0d06f-6510-44fe-a378-76cb53e2605f";
pub const MDLP_CLIENT_SECRET: &str = "49781b3a-19d5-4ad7-b1b6-abb57e598d41";
/// The MDLP user for `auth_type: PASSWORD`.
pub const MDLP_PASSWORD_USER: &str = "user@example.org";
pub const MDLP_PASSWORD: &str = "password123";
/// SmartMarket client credentials.
pub const SMARTMARKET_CLIENT_ID: &str = "e5623627-bb8c-412c-94b7-1a6998e8ef3a";
pub const SMARTMARKET_CLIENT_SECRET: &str = "887d15a2-cb4f-4998-9591-5b26d62d3751";

/// How the emulator behaves.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// 0 = any free port.
    pub port: u16,
    /// Serve HTTPS with a certificate from a CA generated at start ([`Emulator::ca_pem`]).
    pub tls: bool,
    /// Accept signatures that are not GOST R 34.10-2012 (RSA, ECDSA), which production never
    /// does: each such acceptance is noted in the request log and on stderr, and the console
    /// shows the mode. Off by default: then only GOST signatures pass, and the emulator does
    /// not start without OpenSSL's GOST engine.
    pub allow_rsa: bool,
    /// The intercepting mode: serve HTTPS for the real services' host names
    /// ([`intercept::HOSTS`]) with a certificate from the CA kept in this directory (made on
    /// first use): on [`EmulatorConfig::intercept_port`], and through `CONNECT` on the main port.
    pub intercept: Option<std::path::PathBuf>,
    /// The intercepting TLS port on 127.0.0.1 (0 = any free port; 443 for a hosts-file entry).
    pub intercept_port: u16,
    /// Accept a signer certificate outside its validity period (refused by default).
    pub allow_expired_certificates: bool,
    pub challenge_ttl_ms: u64,
    pub gismt_token_ttl_ms: u64,
    pub trueapi_token_ttl_ms: u64,
    /// Sent as `life_time` (minutes); fractions allowed for tests.
    pub mdlp_life_time_minutes: f64,
    pub smartmarket_token_ttl_ms: u64,
    /// `expires_at` in seconds instead of the milliseconds the real service sends.
    pub smartmarket_expires_in_seconds: bool,
    /// The shape of a GIS MT or True API sign-in's answer (the forms reported in public traffic).
    pub sign_in_answer: SignInAnswer,
    /// The shape of the united token's answer (`unitedToken: true`).
    pub united_answer: UnitedAnswer,
    /// Refuse (429) an MDLP `/auth` or `/token` within a second of the previous one of its
    /// kind, as MDLP does.
    pub mdlp_rate_limit: bool,
    pub registration_keys: Vec<String>,
    pub pharma_registration_keys: Vec<String>,
    pub oms_ids: Vec<String>,
    pub oms_connections: Vec<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            tls: false,
            allow_rsa: false,
            intercept: None,
            intercept_port: 0,
            allow_expired_certificates: false,
            challenge_ttl_ms: 5 * 60 * 1000,
            gismt_token_ttl_ms: 10 * 60 * 60 * 1000,
            trueapi_token_ttl_ms: 10 * 60 * 60 * 1000,
            mdlp_life_time_minutes: 30.0,
            smartmarket_token_ttl_ms: 30 * 60 * 1000,
            smartmarket_expires_in_seconds: false,
            sign_in_answer: SignInAnswer::Token,
            united_answer: UnitedAnswer::ExpireDateMoscow,
            mdlp_rate_limit: false,
            registration_keys: vec![DEMO_REGISTRATION_KEY.to_owned()],
            pharma_registration_keys: vec![PHARMA_REGISTRATION_KEY.to_owned()],
            oms_ids: vec![DEFAULT_OMS_ID.to_owned()],
            oms_connections: vec![DEFAULT_OMS_CONNECTION.to_owned()],
        }
    }
}

/// How a GIS MT or True API sign-in answers (`/admin/settings` `sign_in_answer`): `{token}` as
/// the instruction gives it, or one of the other forms reported in public traffic and clients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInAnswer {
    /// `{"token"}` (a JWT for True API, whose `exp` is its expiry).
    #[default]
    Token,
    /// `{"uuidToken", "expireDate"}`: RFC 3339 with milliseconds and Moscow's offset.
    UuidTokenExpireDate,
    /// `{"clientToken", "expires_in"}`: seconds.
    ClientTokenExpiresIn,
    /// `{"token", "exp"}`: Unix seconds beside the token.
    TokenExp,
    /// `{"token", "life_time"}`: minutes.
    TokenLifeTime,
}

/// How True API answers a sign-in for the united token (`/admin/settings` `united_answer`):
/// `{"uuidToken", "expireDate"}` always (public production traffic of 2026-09-30), with
/// `expireDate` in each form reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitedAnswer {
    /// RFC 3339 with milliseconds and Moscow's offset: `2026-09-30T20:16:34.123+03:00`.
    #[default]
    ExpireDateMoscow,
    /// Moscow time without a zone: `2026-09-30T20:16:34`.
    ExpireDateLocal,
    /// UTC: `2026-09-30T17:16:34Z`.
    ExpireDateUtc,
    /// A Unix time in milliseconds, as a JSON number.
    ExpireDateUnixMs,
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    port: u16,
    tls: bool,
    ca_pem: Option<String>,
    intercept_port: Option<u16>,
    intercept_ca: Option<String>,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    /// Each listener's port and its accept loop.
    threads: Vec<(u16, JoinHandle<()>)>,
}

impl Emulator {
    /// Binds 127.0.0.1 and serves on background threads.
    pub fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        if !config.allow_rsa && !gost_available() {
            return Err(std::io::Error::other(
                "OpenSSL's GOST engine is not available (install libengine-gost-openssl): only GOST \
                 signatures pass, as in production; --allow-rsa accepts RSA and ECDSA instead",
            ));
        }
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let port = listener.local_addr()?.port();
        let (tls_config, ca_pem) = if config.tls {
            let (server, ca) = make_tls().map_err(std::io::Error::other)?;
            (Some(server), Some(ca))
        } else {
            (None, None)
        };
        let intercept = match &config.intercept {
            Some(dir) => {
                let (server, ca) = intercept::server_config(dir).map_err(std::io::Error::other)?;
                let port = config.intercept_port;
                let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "--intercept-port {port}: cannot listen on 127.0.0.1:{port}: {e} \
                             (a port below 1024 needs root or CAP_NET_BIND_SERVICE; any other \
                             port serves a proxy setting or the library's connect_to)"
                        ),
                    )
                })?;
                Some((server, ca, listener))
            }
            None => None,
        };
        let state = Arc::new(State::new(config.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler = routes::handler(state.clone());
        let mut threads = Vec::new();
        let mut intercept_port = None;
        let mut intercept_ca = None;
        let mut connect = None;
        if let Some((server, ca, listener)) = intercept {
            let port = listener.local_addr()?.port();
            let (handler, stop, tls) = (handler.clone(), stop.clone(), server.clone());
            threads.push((
                port,
                std::thread::spawn(move || server::serve(listener, Some(tls), None, handler, stop)),
            ));
            intercept_port = Some(port);
            intercept_ca = Some(ca);
            connect = Some(server);
        }
        {
            let stop = stop.clone();
            threads.push((
                port,
                std::thread::spawn(move || {
                    server::serve(listener, tls_config, connect, handler, stop)
                }),
            ));
        }
        Ok(Emulator {
            port,
            tls: config.tls,
            ca_pem,
            intercept_port,
            intercept_ca,
            state,
            stop,
            threads,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, or https with TLS.
    pub fn base_url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}",
            if self.tls { "https" } else { "http" },
            self.port
        )
    }

    /// The generated CA certificate (PEM) when serving TLS.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// The intercepting TLS port, with [`EmulatorConfig::intercept`].
    pub fn intercept_port(&self) -> Option<u16> {
        self.intercept_port
    }

    /// The intercepting CA's certificate (PEM), with [`EmulatorConfig::intercept`]: what a
    /// client must trust (the library's `tls.extra_roots_pem`).
    pub fn intercept_ca_pem(&self) -> Option<String> {
        self.intercept_ca.clone()
    }

    /// The counters, as `GET /admin/stats` reports them.
    pub fn stats(&self) -> serde_json::Value {
        self.state.stats()
    }

    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for (port, thread) in self.threads.drain(..) {
            // Wake the accept loop.
            let _ = TcpStream::connect(("127.0.0.1", port));
            let _ = thread.join();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost, signed by it.
fn make_tls() -> Result<(Arc<rustls::ServerConfig>, String), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let e = |x: rcgen::Error| x.to_string();
    let ca_key = KeyPair::generate().map_err(e)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "suz-emulator test CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().map_err(e)?;
    let mut server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).map_err(e)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "suz-emulator");
    let server_cert = server_params.signed_by(&server_key, &issuer).map_err(e)?;
    let config = tls_server(
        vec![server_cert.der().clone(), ca_cert.der().clone()],
        &server_key,
    )?;
    Ok((config, ca_cert.pem()))
}

/// A TLS server configuration (ring, TLS 1.2 and 1.3) presenting `chain` with `key`.
fn tls_server(
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|x| x.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|x| x.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|x| x.to_string())?;
    Ok(Arc::new(config))
}
