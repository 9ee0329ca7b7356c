//! What the emulated services remember, behind one mutex.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::EmulatorConfig;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub struct Challenge {
    pub data: String,
    pub expires_at_ms: u64,
}

pub struct MdlpCode {
    pub auth_type: String,
    pub user_id: String,
    pub expires_at_ms: u64,
}

pub struct LiveToken {
    pub value: String,
    pub expires_at_ms: u64,
    pub issued_at_ms: u64,
    /// The endpoint whose request issued it (`gismt.token`, `mdlp.session`, ...).
    pub flow: &'static str,
}

/// A registered installation: the SUZ (omsId, exactly as registered) it belongs to, and the
/// INN of the certificate that registered it, when that certificate carried one.
#[derive(Clone, Debug)]
pub struct Installation {
    pub oms_id: String,
    pub inn: Option<String>,
}

#[derive(Default)]
pub struct Counters {
    pub requests: BTreeMap<String, u64>,
    pub tokens_issued: BTreeMap<String, u64>,
    pub smartmarket_tokens_issued: u64,
    pub signatures_verified: u64,
    pub gost_signatures_verified: u64,
    pub signatures_refused: u64,
    /// Signatures that passed without being GOST (only with `allow_rsa`).
    pub non_gost_signatures_accepted: u64,
    /// MDLP requests refused for coming within a second of the previous one of their kind.
    pub mdlp_rate_limited: u64,
    pub last_inn: Option<String>,
}

/// One request, as the console lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RequestRecord {
    pub at_ms: u64,
    pub method: String,
    /// The path and query (credentials travel in headers and bodies, never here).
    pub path: String,
    /// The endpoint's name, or `unknown` for a path no endpoint serves.
    pub endpoint: &'static str,
    /// 0 for a connection closed without an answer.
    pub status: u16,
    pub duration_ms: u64,
    /// For a refusal, the start of the answer's body; empty otherwise.
    pub outcome: String,
    /// The fault that made this answer (`html 503`, `delay 2000 ms`), if one was queued.
    pub fault: Option<String>,
    /// The request's headers and body, and the answer's, secrets masked and bodies cut at
    /// 4 KiB: what the console shows when a request is opened.
    pub request_headers: Vec<(String, String)>,
    pub request_body: String,
    pub answer_headers: Vec<(String, String)>,
    pub answer_body: String,
}

/// How many requests the console can list.
pub const RECENT_REQUESTS: usize = 200;

std::thread_local! {
    /// The endpoint of the request this thread is answering (each connection's thread answers
    /// its requests one at a time; the routes set it): the flow a token issued now is listed
    /// under.
    pub static CURRENT_ENDPOINT: std::cell::Cell<&'static str> = const { std::cell::Cell::new("") };
}

/// How a token stopped being live before its expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// A newer token of the same identity replaced it (the services' own rule).
    Replaced,
    /// `POST /admin/revoke` (or the console's Revoke button).
    Admin,
}

impl Revocation {
    /// What a refusal of such a token says.
    pub fn why(self) -> &'static str {
        match self {
            Revocation::Replaced => "revoked by a newer token",
            Revocation::Admin => "revoked through the emulator's admin API",
        }
    }
}

pub struct Inner {
    pub config: EmulatorConfig,
    /// The last [`RECENT_REQUESTS`] requests, newest last.
    pub recent: std::collections::VecDeque<RequestRecord>,
    /// Installations by lower-case omsConnection.
    pub connections: HashMap<String, Installation>,
    pub live: HashMap<String, LiveToken>,
    /// Values of tokens that were replaced or revoked, and how, to tell "revoked" from
    /// "unknown" and say by what.
    pub revoked: HashMap<String, Revocation>,
    /// Challenges by service ("gismt", "trueapi") and uuid: one service's challenge is
    /// unknown to the other.
    pub challenges: HashMap<(&'static str, String), Challenge>,
    pub mdlp_codes: HashMap<String, MdlpCode>,
    /// When MDLP's `/auth` and `/token` were last asked (Unix ms), for `mdlp_rate_limit`.
    pub mdlp_last: HashMap<&'static str, u64>,
    /// SmartMarket tokens: when issued and when they expire (Unix ms).
    pub smartmarket_tokens: HashMap<String, (u64, u64)>,
    pub faults: Vec<crate::faults::Fault>,
    pub counters: Counters,
}

pub struct State {
    inner: Mutex<Inner>,
    /// Service requests being answered now (admin requests are not counted): a request whose
    /// client has gone is still answered — a sign-in still mints — as a real server does.
    in_flight: std::sync::atomic::AtomicUsize,
}

/// Counts a service request as in flight while it lives.
pub struct InFlight<'a>(&'a State);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl State {
    pub fn new(config: EmulatorConfig) -> State {
        let connections = preregistered(&config);
        State {
            inner: Mutex::new(Inner {
                config,
                recent: std::collections::VecDeque::new(),
                connections,
                live: HashMap::new(),
                revoked: HashMap::new(),
                challenges: HashMap::new(),
                mdlp_codes: HashMap::new(),
                mdlp_last: HashMap::new(),
                smartmarket_tokens: HashMap::new(),
                faults: Vec::new(),
                counters: Counters::default(),
            }),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Marks a service request in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(self)
    }

    /// The state; a panic in another request thread does not make it unusable.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> Value {
        let s = self.lock();
        let live: BTreeMap<&String, String> = s
            .live
            .iter()
            .map(|(c, t)| (c, crate::mask::masked(&t.value)))
            .collect();
        json!({
            "tokens_issued": s.counters.tokens_issued,
            "tokens_issued_total": s.counters.tokens_issued.values().sum::<u64>(),
            "smartmarket_tokens_issued": s.counters.smartmarket_tokens_issued,
            "requests": s.counters.requests,
            "signatures_verified": s.counters.signatures_verified,
            "gost_signatures_verified": s.counters.gost_signatures_verified,
            "signatures_refused": s.counters.signatures_refused,
            "non_gost_signatures_accepted": s.counters.non_gost_signatures_accepted,
            "mode": {"allow_rsa": s.config.allow_rsa, "intercept": s.config.intercept.is_some()},
            "mdlp_rate_limited": s.counters.mdlp_rate_limited,
            "live_tokens": live,
            "tokens": s.token_list(),
            "last_inn": s.counters.last_inn,
            "in_flight": self.in_flight.load(std::sync::atomic::Ordering::SeqCst),
        })
    }
}

impl Inner {
    /// Issues a SUZ token for a connection, revoking the previous one.
    pub fn issue_token(&mut self, connection: &str, ttl_ms: u64) -> String {
        // The real SUZ's clientToken is a UUID.
        self.issue_value(connection, uuid::Uuid::new_v4().to_string(), ttl_ms)
    }

    /// Issues `value` as the live token of `connection` (an installation, or another identity
    /// the server keeps one token for), revoking the previous one.
    pub fn issue_value(&mut self, connection: &str, value: String, ttl_ms: u64) -> String {
        let connection = connection.to_ascii_lowercase();
        if let Some(old) = self.live.insert(
            connection.clone(),
            LiveToken {
                value: value.clone(),
                expires_at_ms: now_ms() + ttl_ms,
                issued_at_ms: now_ms(),
                flow: CURRENT_ENDPOINT.with(|e| e.get()),
            },
        ) {
            self.revoked.insert(old.value, Revocation::Replaced);
        }
        *self.counters.tokens_issued.entry(connection).or_default() += 1;
        value
    }

    pub fn revoke(&mut self, connection: Option<&str>) -> usize {
        let keys: Vec<String> = match connection {
            Some(c) => vec![c.to_ascii_lowercase()],
            None => self.live.keys().cloned().collect(),
        };
        let mut n = 0;
        for k in keys {
            if let Some(old) = self.live.remove(&k) {
                self.revoked.insert(old.value, Revocation::Admin);
                n += 1;
            }
        }
        n
    }

    /// Takes the next fault queued for `endpoint`, if any.
    pub fn take_fault(&mut self, endpoint: &str) -> Option<crate::faults::Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.endpoint.name() == endpoint)?;
        let fault = self.faults[index].clone();
        match fault.times {
            0 => {}
            1 => {
                self.faults.remove(index);
            }
            _ => self.faults[index].times -= 1,
        }
        Some(fault)
    }

    pub fn reset(&mut self) {
        self.live.clear();
        self.revoked.clear();
        self.challenges.clear();
        self.mdlp_codes.clear();
        self.mdlp_last.clear();
        self.smartmarket_tokens.clear();
        self.faults.clear();
        self.recent.clear();
        self.counters = Counters::default();
        self.connections = preregistered(&self.config);
    }

    /// Records a request for the console, forgetting the oldest beyond [`RECENT_REQUESTS`].
    pub fn record(&mut self, record: RequestRecord) {
        if self.recent.len() == RECENT_REQUESTS {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
    }

    /// The connection a live token belongs to, and the token.
    /// Every live token for the console: its identity, kind, the endpoint that issued it, the
    /// value masked, when issued and when it expires (SmartMarket's too).
    pub fn token_list(&self) -> Vec<Value> {
        let mut list: Vec<Value> = self
            .live
            .iter()
            .map(|(identity, t)| {
                json!({"identity": identity, "kind": token_kind(identity), "flow": t.flow,
                       "masked": crate::mask::masked(&t.value),
                       "issued_at_ms": t.issued_at_ms, "expires_at_ms": t.expires_at_ms})
            })
            .collect();
        let now = now_ms();
        list.extend(
            self.smartmarket_tokens
                .iter()
                .filter(|(_, (_, e))| *e > now)
                .map(|(value, (issued, expires))| {
                    json!({"identity": "smartmarket", "kind": "SmartMarket access_token",
                   "flow": "smartmarket.oauth", "masked": crate::mask::masked(value),
                   "issued_at_ms": issued, "expires_at_ms": expires})
                }),
        );
        list.sort_by_key(|v| std::cmp::Reverse(v["issued_at_ms"].as_u64()));
        list
    }

    pub fn live_token(&self, value: &str) -> Option<(&String, &LiveToken)> {
        self.live.iter().find(|(_, t)| t.value == value)
    }
}

/// What a live token is, from the identity it is kept under.
fn token_kind(identity: &str) -> &'static str {
    [
        ("trueapi:", "True API token"),
        ("united:", "united token"),
        ("gismt:", "GIS MT token"),
        ("mdlp_session:", "MDLP session"),
    ]
    .iter()
    .find(|(prefix, _)| identity.starts_with(prefix))
    .map_or("SUZ clientToken", |(_, kind)| kind)
}

/// The installations given in the configuration: they belong to the first omsId.
fn preregistered(config: &EmulatorConfig) -> HashMap<String, Installation> {
    let oms_id = config.oms_ids.first().cloned().unwrap_or_default();
    config
        .oms_connections
        .iter()
        .map(|c| {
            (
                c.to_ascii_lowercase(),
                Installation {
                    oms_id: oms_id.clone(),
                    inn: None,
                },
            )
        })
        .collect()
}
