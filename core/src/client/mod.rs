//! The client: configuration, one pooled transport, the signers, and the token cache. What a
//! client does is in two files: [`drive`] runs the flows' steps over the transport, and
//! [`profiles`] keeps each configured profile's token and makes authorized calls with it.

mod certs;
mod drive;
mod profiles;
pub use profiles::KeeperLook;
mod status;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// MDLP allows each of `/auth` and `/token` once a second (see docs/PROTOCOL.md §2).
const MDLP_GAP: Duration = Duration::from_secs(1);

use rustc_hash::FxHashMap;

use crate::config::{Config, Profile, Service};
use crate::error::{Error, ErrorKind, Result};
use crate::flows::PendingSignature;
use crate::signer::{CommandSigner, Signer};
use crate::token::key::TokenKey;
use crate::token::manager::{TokenManager, Turn};
use crate::token::Token;
use crate::transport::{Request, Response, Transport};

/// What [`Client::token_acquire`] gives: the token, or the data to sign for it.
#[derive(Debug)]
pub enum Acquired {
    /// A fresh token from the cache (or, for a profile that signs nothing, just fetched).
    Token(Token),
    /// This caller holds the installation's lease: sign [`PendingSignature::data`] and call
    /// [`Client::token_complete`] (or [`Client::token_release`] to give up).
    Pending(Box<PendingSignature>),
}

/// A configured client. Cheap to share: it is `Send + Sync`, and every call may run on any
/// thread at the same time as others. Keep-alive connections are pooled per client.
pub struct Client {
    config: Config,
    transport: Transport,
    default_signer: Option<Arc<dyn Signer>>,
    /// Signers registered at run time, by profile name ("" for the default).
    signers: RwLock<HashMap<String, Arc<dyn Signer>>>,
    /// Each configured profile with its cache key, by profile name: a cached get finds both
    /// in one lookup.
    configured: FxHashMap<String, Configured>,
    /// The token cache, opened on first use (so clients that never cache touch no disk).
    tokens: OnceLock<TokenManager>,
    /// Ids of the pending operations this client finished, with when (Unix ms).
    finished: std::sync::Mutex<HashMap<String, i64>>,
    /// Whether this client is the keeper (`suz keep`): it fetches the tokens of profiles
    /// `served_by_keeper`, which every other client only takes from the store.
    keeper: std::sync::atomic::AtomicBool,
    /// How many refreshes run on threads of the library's (see
    /// [`Client::wait_for_background`]).
    background: (std::sync::Mutex<usize>, std::sync::Condvar),
}

/// A configured profile (a copy of the configuration's) and the key its token is cached under.
struct Configured {
    profile: Profile,
    key: TokenKey,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client from a JSON configuration document (see the README's config reference).
    pub fn from_json(config_json: &str) -> Result<Client> {
        Self::new(Config::from_json(config_json)?)
    }

    /// A client from a parsed configuration: builds its transport and the configured command
    /// signer; the token cache opens on first use.
    pub fn new(config: Config) -> Result<Client> {
        let transport = Transport::new(&config)?;
        let default_signer = config
            .command_signer
            .clone()
            .map(|c| Arc::new(CommandSigner::new(c)) as Arc<dyn Signer>);
        let configured = config
            .profiles
            .iter()
            .map(|(name, profile)| {
                let key = profiles::key_for(&config, profile);
                let profile = profile.clone();
                (name.clone(), Configured { profile, key })
            })
            .collect();
        Ok(Client {
            configured,
            config,
            transport,
            default_signer,
            signers: RwLock::new(HashMap::new()),
            tokens: OnceLock::new(),
            finished: std::sync::Mutex::new(HashMap::new()),
            keeper: std::sync::atomic::AtomicBool::new(false),
            background: Default::default(),
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The signer configured in the client's JSON (`signer.command`), if any.
    pub fn default_signer(&self) -> Option<&Arc<dyn Signer>> {
        self.default_signer.as_ref()
    }

    /// The token cache of this client.
    ///
    /// A failure to set it up is returned and not kept: the next call tries again.
    pub fn tokens(&self) -> Result<&TokenManager> {
        if let Some(tokens) = self.tokens.get() {
            return Ok(tokens);
        }
        let made = TokenManager::new(&self.config.cache, self.config.redis.as_ref())?;
        // Another thread may have set one up meanwhile: the first one stays.
        Ok(self.tokens.get_or_init(|| made))
    }

    fn base_url(&self, service: Service) -> Result<&str> {
        self.config.url(service)
    }

    fn deadline(&self) -> Instant {
        self.transport.deadline()
    }

    /// One step of a flow: sends `request` and parses the answer; any error carries the
    /// request's `RqUID`.
    fn exchange<T>(
        &self,
        request: &Request,
        deadline: Instant,
        parse: impl FnOnce(&Response) -> Result<T>,
    ) -> Result<T> {
        let turn = self.pace(request, deadline)?;
        let response = self.transport.send(request, deadline);
        drop(turn);
        let response = response?;
        parse(&response).map_err(|e| {
            request
                .secrets
                .scrub_error(e.with_rquid(response.rquid.as_deref()))
        })
    }

    /// Waits for the turn of a request the service allows only so often: MDLP's `/auth` and
    /// `/token` (either form), each once a second across this machine (see
    /// [`crate::token::manager::TokenManager::pace`]). Other requests go at once.
    fn pace(&self, request: &Request, deadline: Instant) -> Result<Option<Turn>> {
        let Ok(mdlp) = self.config.url(Service::Mdlp) else {
            return Ok(None);
        };
        let method = match request.url.strip_prefix(mdlp) {
            Some("/auth") => "auth",
            Some(rest) if rest == "/token" || rest.starts_with("/token/") => "token",
            _ => return Ok(None),
        };
        self.tokens()?
            .pace(&format!("MDLP {mdlp}/{method}"), MDLP_GAP, deadline)
            .map(Some)
    }

    /// The given signer, or the configured one, or an error that says how to provide one.
    fn pick_signer<'a>(&'a self, signer: Option<&'a dyn Signer>) -> Result<&'a dyn Signer> {
        signer
            .or(self.default_signer.as_deref())
            .ok_or_else(|| {
                Error::invalid_argument(
                    "this flow needs a signer: pass one, or configure `signer.command`, or use the two-phase functions",
                )
            })
    }

    /// Signs within the call's deadline: the one code path behind the callback and command
    /// signers.
    fn sign(
        &self,
        data: &[u8],
        kind: crate::SignatureKind,
        signer: &dyn Signer,
        deadline: Instant,
    ) -> Result<Vec<u8>> {
        let signature = signer.sign_until(data, kind, deadline)?;
        if Instant::now() >= deadline {
            return Err(Error::new(
                ErrorKind::Timeout,
                "the call's total timeout ran out while the signer was working",
            ));
        }
        Ok(signature)
    }
}
