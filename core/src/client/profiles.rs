//! Profiles in use: the cached token of a profile, compare-and-invalidate, and authorized
//! requests that recover from a revoked token.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Acquired, Client};
use crate::config::{Config, Profile, ProfileFlow, Service};
use crate::error::{Error, Result};
use crate::flows::api::{self, Auth};
use crate::flows::{MdlpCredentials, PendingSignature};
use crate::log::{log_at, Level};
use crate::signer::{CommandSigner, Signer};
use crate::token::key::TokenKey;
use crate::token::lease::Lease;
use crate::token::manager;
use crate::token::{now_ms, Token};
use crate::transport::{Method, Response};
use crate::value::Flow;

impl Client {
    /// A configured profile, or an error listing the known ones.
    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.configured(name).map(|(profile, _)| profile)
    }

    /// A configured profile and its cache key, in one lookup; or an error listing the known
    /// profiles.
    fn configured(&self, name: &str) -> Result<(&Profile, &TokenKey)> {
        let found = self.configured.get(name).map(|c| (&c.profile, &c.key));
        found.ok_or_else(|| {
            let known: Vec<&str> = self.config.profiles.keys().map(String::as_str).collect();
            Error::invalid_argument(format!(
                "unknown profile {name:?} (configured: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// Sets the signer of one profile, or (`None`) the default for every profile without its
    /// own `signer.command`. Lets C hosts use a callback signer with profiles.
    pub fn set_signer(&self, profile: Option<&str>, signer: Arc<dyn Signer>) -> Result<()> {
        if let Some(name) = profile {
            self.profile(name)?;
        }
        let mut signers = self.signers.write().unwrap_or_else(|e| e.into_inner());
        signers.insert(profile.unwrap_or("").to_owned(), signer);
        Ok(())
    }

    fn profile_signer(&self, profile: &Profile) -> Result<Arc<dyn Signer>> {
        let signers = self.signers.read().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = signers.get(&profile.name) {
            return Ok(s.clone());
        }
        if let Some(cmd) = &profile.signer {
            return Ok(Arc::new(CommandSigner::new(cmd.clone())));
        }
        if let Some(s) = signers.get("") {
            return Ok(s.clone());
        }
        self.default_signer().cloned().ok_or_else(|| {
            Error::invalid_argument(format!(
                "profile {:?} needs a signer: set `signer.command` or register one with suz_client_set_signer",
                profile.name
            ))
        })
    }

    /// The key the profile's token is cached under: it names the service the token is for
    /// (the configured SUZ or SmartMarket URL). Computed once per configured profile, when the
    /// client is made.
    pub fn token_key(&self, profile: &Profile) -> Cow<'_, TokenKey> {
        match self.configured.get(&profile.name) {
            Some(c) => Cow::Borrowed(&c.key),
            None => Cow::Owned(key_for(&self.config, profile)),
        }
    }

    /// Mints a new token for a profile, bypassing the cache.
    pub fn fetch_token(&self, profile: &Profile) -> Result<Token> {
        let connection = profile.oms_connection.as_deref().unwrap_or("");
        match &profile.flow {
            ProfileFlow::Gismt => {
                let signer = self.profile_signer(profile)?;
                self.token_gismt(connection, Some(signer.as_ref()))
            }
            ProfileFlow::TrueApi { inn } => {
                let signer = self.profile_signer(profile)?;
                let signer = Some(signer.as_ref());
                let inn = inn.as_deref();
                self.token_challenge(Flow::TrueApi, connection, inn, signer, profile.strict_inn)
            }
            ProfileFlow::SignedIn { flow, inn, .. } => {
                let signer = self.profile_signer(profile)?;
                let signer = Some(signer.as_ref());
                self.token_challenge(*flow, "", inn.as_deref(), signer, profile.strict_inn)
            }
            ProfileFlow::MdlpSigned {
                flow,
                client_id,
                client_secret,
                user_id,
            } => {
                let signer = self.profile_signer(profile)?;
                let creds = MdlpCredentials::new(client_id, client_secret.expose(), user_id);
                self.token_mdlp_flow(*flow, connection, &creds, None, Some(signer.as_ref()))
            }
            ProfileFlow::MdlpPassword {
                flow,
                client_id,
                client_secret,
                user_id,
                password,
            } => {
                let creds = MdlpCredentials::new(client_id, client_secret.expose(), user_id);
                self.token_mdlp_flow(*flow, connection, &creds, Some(password.expose()), None)
            }
            ProfileFlow::SmartMarket {
                client_id,
                client_secret,
                scope,
            } => self.token_smartmarket(client_id, client_secret.expose(), Some(scope)),
        }
    }

    /// The profile's token: cached while it has more than the refresh margin left, otherwise
    /// fetched once for every thread and process on this machine (and every machine sharing
    /// the Redis store).
    pub fn token_get(&self, profile: &str) -> Result<Token> {
        let (profile, key) = self.configured(profile)?;
        if self.consumes(profile) {
            return self.tokens()?.kept(profile, key);
        }
        self.tokens()?
            .get(profile, key, &|| self.fetch_token(profile))
    }

    /// Makes this client the keeper of the profiles `served_by_keeper` (`suz keep`): it fetches
    /// their tokens, where every other client only takes them from the shared store.
    pub fn set_keeper(&self, keeper: bool) {
        self.keeper
            .store(keeper, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this client only takes `profile`'s token from the store (a keeper serves it).
    fn consumes(&self, profile: &Profile) -> bool {
        profile.served_by_keeper && !self.keeper.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The keeper's look at one profile: the token the store holds, refreshed when due or
    /// missing — also when a consumer dropped it from the store (a 401), which this process's
    /// memory would not see.
    pub fn keep_profile(&self, name: &str) -> Result<KeeperLook> {
        let (profile, key) = self.configured(name)?;
        let tokens = self.tokens()?;
        let waits = tokens.waits();
        let before = tokens.stored_valid(key);
        let dropped = match before {
            None => tokens.forget_memory(key),
            Some(_) => None,
        };
        let token = tokens.get(profile, key, &|| self.fetch_token(profile))?;
        let fetched = before.is_none_or(|b| b.value() != token.value());
        Ok(KeeperLook {
            // Gone from the store while still valid here: a consumer's 401 dropped it.
            recovered: fetched && dropped.is_some_and(|t| t.expires_at_ms() > now_ms()),
            waited: tokens.waits() > waits,
            fetched,
            token,
        })
    }
}

/// What one look of the keeper at a profile found ([`Client::keep_profile`]).
#[derive(Debug)]
pub struct KeeperLook {
    /// The token the store now holds.
    pub token: Token,
    /// Whether it was fetched in this look (by this keeper or, waited for, by another process).
    pub fetched: bool,
    /// Whether the fetch replaced a token that a consumer dropped from the store while it was
    /// still valid: the recovery after a 401.
    pub recovered: bool,
    /// Whether the look waited for a fetch elsewhere (another process holding the lock).
    pub waited: bool,
}

impl Client {
    /// [`Client::token_get`] for a client shared through an [`Arc`], with when the cache will
    /// stop handing the token out (Unix ms, see
    /// [`crate::token::manager::TokenManager::fresh_until_ms`]). While the
    /// cached token is valid but due for refresh, a refresh that can run anywhere (SmartMarket,
    /// MDLP with a password, a command signer, a signer whose [`Signer::any_thread`] is true)
    /// runs on a thread of the library's and every caller gets the valid token at once. A
    /// refresh through any other host callback runs on a calling thread, as the callback's
    /// contract says.
    pub fn token_get_shared(self: &Arc<Self>, name: &str) -> Result<(Token, i64)> {
        let (profile, key) = self.configured(name)?;
        let tokens = self.tokens()?;
        if self.consumes(profile) {
            let token = tokens.kept(profile, key)?;
            return Ok((token.clone(), token.expires_at_ms()));
        }
        // Asked only once the token is due for refresh: a cache hit pays nothing for it.
        let start = || self.refreshes_alone(profile) && self.start_refresh(name);
        let token = tokens.get_or_refresh_behind(
            profile,
            key,
            &|| self.fetch_token(profile),
            Some(&start),
        )?;
        let until = tokens.fresh_until_ms(profile, &token);
        Ok((token, until))
    }

    /// Starts the refresh of a profile's token on a thread of its own; false if no thread
    /// could be started.
    fn start_refresh(self: &Arc<Self>, name: &str) -> bool {
        /// Counts one refresh in `background` while it lives.
        struct Running(Arc<Client>);
        impl Drop for Running {
            fn drop(&mut self) {
                let (count, ended) = &self.0.background;
                *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                ended.notify_all();
            }
        }
        *self.background.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let running = Running(Arc::clone(self));
        let name = name.to_owned();
        std::thread::Builder::new()
            .name("suz-auth-refresh".into())
            .spawn(move || {
                let client = &running.0;
                let Ok(profile) = client.profile(&name) else {
                    return;
                };
                let key = client.token_key(profile);
                if let Ok(tokens) = client.tokens() {
                    // A failure keeps the valid token and is logged where it happens.
                    let _ = tokens.refresh(profile, &key, &|| client.fetch_token(profile));
                }
            })
            .is_ok()
    }

    /// Waits until no refresh runs on a thread of the library's, at most the time one fetch
    /// may take (`timeouts.total_ms`, and `cache.lock_timeout_ms` for the store): after it a
    /// host may unload what its signer calls. False if one still ran when the wait ended.
    pub fn wait_for_background(&self) -> bool {
        let limit = self.config.total_timeout + self.config.cache.lock_timeout;
        let (count, ended) = &self.background;
        let count = count.lock().unwrap_or_else(|e| e.into_inner());
        let (count, _) = ended
            .wait_timeout_while(count, limit, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *count == 0
    }

    /// Whether a profile's token can be fetched on a thread of the library's: its flow signs
    /// nothing, or its signer may be called from any thread (a command, or a host callback
    /// registered as such).
    fn refreshes_alone(&self, profile: &Profile) -> bool {
        match profile.flow {
            ProfileFlow::MdlpPassword { .. } | ProfileFlow::SmartMarket { .. } => true,
            ProfileFlow::Gismt
            | ProfileFlow::TrueApi { .. }
            | ProfileFlow::SignedIn { .. }
            | ProfileFlow::MdlpSigned { .. } => self
                .profile_signer(profile)
                .is_ok_and(|signer| signer.any_thread()),
        }
    }

    /// Two-phase form of [`Client::token_get`], for hosts that sign between two calls (1C):
    /// the fresh cached token, or — when a fetch is needed — the installation's lease for this
    /// caller and a [`PendingSignature`] to sign (its challenge or MDLP code already fetched).
    /// Another caller's live lease is waited for, at most `cache.lock_timeout_ms`, then
    /// [`crate::ErrorKind::InProgress`]. A profile whose flow signs nothing (MDLP password,
    /// SmartMarket) gives its token in this call.
    pub fn token_acquire(&self, name: &str) -> Result<Acquired> {
        let profile = self.profile(name)?;
        let key = self.token_key(profile);
        let connection = profile.oms_connection.as_deref().unwrap_or("");
        if !profile.needs_signer() || self.consumes(profile) {
            return self.token_get(name).map(Acquired::Token);
        }
        let tokens = self.tokens()?;
        let lease = match tokens.acquire(profile, &key)? {
            manager::Acquired::Token(t) => return Ok(Acquired::Token(t)),
            manager::Acquired::Lease(lease) => lease,
        };
        let begun = match &profile.flow {
            ProfileFlow::TrueApi { inn } => self.trueapi_begin(connection, inn.as_deref()),
            ProfileFlow::SignedIn { flow, inn, .. } => self.signed_in_begin(*flow, inn.as_deref()),
            ProfileFlow::MdlpSigned {
                flow,
                client_id,
                client_secret,
                user_id,
            } => {
                let creds = MdlpCredentials::new(client_id, client_secret.expose(), user_id);
                self.mdlp_flow_begin(*flow, connection, &creds)
            }
            ProfileFlow::Gismt => self.gismt_begin(connection),
            // These sign nothing (`needs_signer` above): never a lease to give back.
            ProfileFlow::MdlpPassword { .. } | ProfileFlow::SmartMarket { .. } => {
                Err(Error::invalid_argument(
                    "this profile's flow signs nothing; its token comes from suz_token_get",
                ))
            }
        };
        match begun {
            Ok(pending) => Ok(Acquired::Pending(Box::new(pending.with_lease(lease)))),
            Err(e) => {
                // Nothing was minted: the next caller may take the lease at once.
                tokens.release(profile, &key, &lease)?;
                Err(e)
            }
        }
    }

    /// Phase two of [`Client::token_acquire`]: sends the signature (any CMS form, converted
    /// to the kind the flow needs), stores the token for every caller, releases the lease. May
    /// run in another process or machine sharing the store, on an imported pending operation.
    /// A signature refused before sending leaves the operation and its lease to complete again;
    /// once sent, the operation is spent (see [`Client::finish_token`]). If a fresh token is
    /// already in the cache it is returned and nothing is sent; if the lease was taken over,
    /// [`crate::ErrorKind::LeaseLost`] and nothing is sent.
    pub fn token_complete(&self, pending: &PendingSignature, signature: &[u8]) -> Result<Token> {
        let (profile, key, lease) = self.leased(pending)?;
        let request = pending.token_request(signature)?;
        let certificate = self.checked_certificate(pending, signature, profile.strict_inn)?;
        self.tokens()?.complete(profile, &key, lease, &|| {
            self.claim(pending)?;
            self.exchange(&request, self.deadline(), |r| {
                pending.parse_token(r, now_ms())
            })
            .map(|t| t.with_certificate(certificate.clone()))
        })
    }

    /// Gives up the lease of a pending operation from [`Client::token_acquire`] without
    /// completing it: the next caller takes the lease at once, instead of after it expires.
    pub fn token_release(&self, pending: &PendingSignature) -> Result<()> {
        let (profile, key, lease) = self.leased(pending)?;
        self.tokens()?.release(profile, &key, lease)
    }

    /// The profile, key and lease of a pending operation from [`Client::token_acquire`].
    fn leased<'a>(
        &'a self,
        pending: &'a PendingSignature,
    ) -> Result<(&'a Profile, TokenKey, &'a Lease)> {
        let lease = pending.lease().ok_or_else(|| {
            Error::invalid_argument(
                "this pending operation was not begun by suz_token_acquire: finish it with suz_pending_finish_token",
            )
        })?;
        let profile = self.profile(&lease.profile)?;
        let key = self.token_key(profile);
        if key.hash != lease.key {
            return Err(Error::invalid_argument(format!(
                "this pending operation is for another installation than profile {:?} of this client (the configuration differs)",
                profile.name
            )));
        }
        Ok((profile, key.into_owned(), lease))
    }

    /// Drops the cached token only if it is still `value` (the one the caller saw fail).
    pub fn token_invalidate(&self, profile: &str, value: &str) -> Result<bool> {
        let profile = self.profile(profile)?;
        let key = self.token_key(profile);
        self.tokens()?.invalidate(profile, &key, value)
    }

    /// An authorized call with the profile's token: `clientToken` for SUZ, `Authorization:
    /// Bearer` and a fresh `RqUID` for SmartMarket. `path` is relative to the API's base URL;
    /// the profile's `oms_id` is added as `omsId` when the path has none. On 401 the token is
    /// invalidated (compare-and-invalidate), a new one obtained, and the call made once more.
    /// Any answer is returned as a [`Response`], whatever its status; errors are transport
    /// failures and token failures.
    pub fn request(
        &self,
        profile: &str,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response> {
        let method = Method::parse(method)?;
        api::check_path(path)?;
        let profile = self.profile(profile)?;
        let base = self.base_url(profile.api())?;
        let mut retried = false;
        loop {
            let token = self.token_get(&profile.name)?;
            let auth = match profile.api() {
                Service::SmartMarket => Auth::Bearer {
                    token: token.value(),
                    rquid: crate::random::rquid(),
                },
                Service::TrueApi | Service::Gismt => Auth::TrueApi {
                    token: token.value(),
                },
                Service::Mdlp => Auth::Mdlp {
                    token: token.value(),
                },
                Service::Suz => Auth::Suz {
                    token: token.value(),
                    oms_id: profile.oms_id.as_deref(),
                },
            };
            let request = api::request(base, method, path, auth, body)?;
            let response = self.transport.send(&request, self.deadline())?;
            if response.status != 401 || retried {
                return Ok(response);
            }
            log_at!(
                Level::Info,
                "{}: {} answered 401; invalidating {} and retrying once",
                profile.name,
                path,
                token.masked()
            );
            self.token_invalidate(&profile.name, token.value())?;
            retried = true;
        }
    }

    /// Like [`Client::request`], but a non-2xx answer is an error with the server's fields.
    pub fn request_ok(
        &self,
        profile: &str,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response> {
        let response = self.request(profile, method, path, body)?;
        crate::flows::envelope::checked(&response)?;
        Ok(response)
    }
}

/// The cache key of a profile under this configuration.
pub(super) fn key_for(config: &Config, profile: &Profile) -> TokenKey {
    TokenKey::for_profile(profile, &|service| {
        config.url(service).ok().map(str::to_owned)
    })
}
