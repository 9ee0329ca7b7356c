//! One live token per installation: the memory cache, single flight across threads (a mutex per
//! key), across processes (the file store's OS lock) and across machines (Redis), and
//! compare-and-invalidate.
//!
//! The order of a fetch: memory -> (lead, or wait for the leading thread) memory again -> (file
//! lock) file store ->
//! (Redis lock) Redis -> fetch -> write Redis, file, memory. Every waiter re-reads after it gets
//! a lock, so it takes the token the winner fetched instead of fetching its own.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::key::TokenKey;
#[cfg(feature = "redis")]
use super::redis::RedisStore;
use super::store::FileStore;
use super::{mask, now_ms, Token};
#[cfg(feature = "redis")]
use crate::config::RedisFallback;
use crate::config::{CacheConfig, Profile, RedisConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{log_at, Level};

/// Ten minutes before expiry at most; never more than a fifth of the token's lifetime, so a
/// 10-hour token refreshes 10 minutes early, a 30-minute one 6 minutes early.
const MAX_AUTO_MARGIN_MS: i64 = 10 * 60 * 1000;

/// The token cache of one client: memory, plus the file store and Redis when configured.
pub struct TokenManager {
    memory: Mutex<HashMap<String, Token>>,
    /// Fetches under way in this process, by key: the first thread leads, the others wait for
    /// its outcome.
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// The file store, opened on first use and retried on every call until it opens.
    files: Mutex<Option<Arc<FileStore>>>,
    #[cfg(feature = "redis")]
    redis: Option<(RedisStore, RedisFallback)>,
    config: CacheConfig,
}

/// One fetch under way, and its outcome once known.
#[derive(Default)]
struct Flight {
    outcome: Mutex<Option<Result<Token>>>,
    done: Condvar,
}

/// The leader's duty: whatever happens (an error, a panic in the fetch), the waiters get an
/// outcome and the flight is removed.
struct Leading<'a> {
    manager: &'a TokenManager,
    hash: &'a str,
    flight: Arc<Flight>,
}

impl Leading<'_> {
    fn publish(&self, outcome: &Result<Token>) {
        *lock(&self.flight.outcome) = Some(outcome.clone());
        self.flight.done.notify_all();
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut outcome = lock(&self.flight.outcome);
        if outcome.is_none() {
            *outcome = Some(Err(Error::new(
                ErrorKind::Panic,
                "the thread fetching this token panicked",
            )));
            self.flight.done.notify_all();
        }
        drop(outcome);
        lock(&self.manager.flights).remove(self.hash);
    }
}

thread_local! {
    /// Set while this thread runs a fetch: a signer that calls back into the cache would wait
    /// for itself.
    static FETCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as fetching until dropped.
struct FetchingMark;

impl FetchingMark {
    fn enter() -> Result<FetchingMark> {
        if FETCHING.with(|f| f.replace(true)) {
            return Err(Error::invalid_argument(
                "a token was requested from inside a signer while that signer was signing for a token fetch; a signer must not call back into suz-auth's token cache (it would wait for itself)",
            ));
        }
        Ok(FetchingMark)
    }
}

impl Drop for FetchingMark {
    fn drop(&mut self) {
        FETCHING.with(|f| f.set(false));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the cache down: the data is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TokenManager {
    /// A cache with these settings. The file store's directory is opened (and created) on first
    /// use, and again on every call until that works. A `redis` configuration is an error in a
    /// build without the `redis` feature.
    pub fn new(config: &CacheConfig, redis: Option<&RedisConfig>) -> Result<TokenManager> {
        #[cfg(not(feature = "redis"))]
        if redis.is_some() {
            return Err(Error::config(
                "config key `redis`: this build of suz-auth has no Redis support (cargo feature `redis`)",
            ));
        }
        Ok(TokenManager {
            memory: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            files: Mutex::new(None),
            #[cfg(feature = "redis")]
            redis: redis.map(|r| (RedisStore::new(r.clone()), r.on_unavailable)),
            config: config.clone(),
        })
    }

    /// The file store; `Ok(None)` when persistence is off (memory only), an
    /// [`ErrorKind::Store`] error when its directory cannot be used (tried again next time).
    pub fn file_store(&self) -> Result<Option<Arc<FileStore>>> {
        let Some(dir) = self.config.dir.as_deref() else {
            return Ok(None);
        };
        let mut slot = lock(&self.files);
        if slot.is_none() {
            *slot = Some(Arc::new(FileStore::open(dir)?));
        }
        Ok(slot.clone())
    }

    fn margin_ms(&self, profile: &Profile, token: &Token) -> i64 {
        if let Some(m) = profile.refresh_margin.or(self.config.refresh_margin) {
            return i64::try_from(m.as_millis()).unwrap_or(i64::MAX);
        }
        let lifetime = token
            .expires_at_ms()
            .saturating_sub(token.obtained_at_ms())
            .max(0);
        (lifetime / 5).min(MAX_AUTO_MARGIN_MS)
    }

    fn is_fresh(&self, profile: &Profile, token: &Token) -> bool {
        token.expires_at_ms().saturating_sub(now_ms()) > self.margin_ms(profile, token)
    }

    fn memory_get(&self, key: &TokenKey) -> Option<Token> {
        lock(&self.memory).get(&key.hash).cloned()
    }

    fn remember(&self, key: &TokenKey, token: &Token) {
        lock(&self.memory).insert(key.hash.clone(), token.clone());
    }

    /// The cached token while it has more than the refresh margin left; otherwise one fetch
    /// per key on this machine (and across machines with Redis), whose outcome every waiter
    /// shares — a failure too. Every wait (for another thread, another process, another
    /// machine) ends after `cache.lock_timeout_ms` with [`ErrorKind::Timeout`]. If the refresh
    /// fails while a cached token is still valid, that token is returned and the failure logged
    /// (never a token a previous, interrupted fetch may have revoked).
    pub fn get(
        &self,
        profile: &Profile,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
        if let Some(t) = self.memory_get(key).filter(|t| self.is_fresh(profile, t)) {
            log_at!(Level::Debug, "{}: cache hit ({})", profile.name, key.label);
            return Ok(t);
        }
        let _mark = FetchingMark::enter()?;
        let (flight, leader) = {
            let mut flights = lock(&self.flights);
            match flights.get(&key.hash) {
                Some(f) => (f.clone(), false),
                None => {
                    let f = Arc::new(Flight::default());
                    flights.insert(key.hash.clone(), f.clone());
                    (f, true)
                }
            }
        };
        if !leader {
            return self.wait_for(profile, &flight);
        }
        let leading = Leading {
            manager: self,
            hash: &key.hash,
            flight,
        };
        let outcome = self.lead(profile, key, fetch);
        leading.publish(&outcome);
        outcome
    }

    /// Waits for the thread leading the fetch, at most `cache.lock_timeout_ms`.
    fn wait_for(&self, profile: &Profile, flight: &Flight) -> Result<Token> {
        let limit = self.config.lock_timeout;
        let started = Instant::now();
        let mut outcome = lock(&flight.outcome);
        while outcome.is_none() {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "waited {} ms (cache.lock_timeout_ms) for another thread of this process fetching this token",
                        limit.as_millis()
                    ),
                ));
            }
            outcome = flight
                .done
                .wait_timeout(outcome, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        log_at!(
            Level::Debug,
            "{}: another thread fetched the token; using its outcome",
            profile.name
        );
        outcome.clone().unwrap_or_else(|| {
            Err(Error::new(
                ErrorKind::Panic,
                "a fetch ended without an outcome",
            ))
        })
    }

    /// The leader's part: the memory again, the file store under its lock, Redis under its
    /// lock, and only then a fetch.
    fn lead(
        &self,
        profile: &Profile,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
        // A fetch may have ended between the first look and taking the lead.
        if let Some(t) = self.memory_get(key).filter(|t| self.is_fresh(profile, t)) {
            return Ok(t);
        }
        let files = self.file_store()?;
        let mut interrupted = false;
        let _file_lock = match &files {
            Some(files) => {
                let (guard, waited) = files.lock(&key.hash, self.config.lock_timeout)?;
                if waited {
                    log_at!(
                        Level::Info,
                        "{}: waited for another process's fetch",
                        profile.name
                    );
                }
                interrupted = files.fetch_interrupted(&key.hash);
                if interrupted {
                    log_at!(
                        Level::Warn,
                        "{}: a previous fetch was interrupted; the stored token may have been revoked, fetching anew",
                        profile.name
                    );
                } else if let Some(t) = files.read(&key.hash).filter(|t| self.is_fresh(profile, t))
                {
                    log_at!(Level::Debug, "{}: token from the file store", profile.name);
                    self.remember(key, &t);
                    return Ok(t);
                }
                Some(guard)
            }
            None => None,
        };

        #[cfg(feature = "redis")]
        let redis_lock = match &self.redis {
            Some((redis, fallback)) => {
                match redis.lock_and_read(
                    key,
                    &|t| self.is_fresh(profile, t),
                    self.config.lock_timeout,
                ) {
                    Ok((guard, Some(t))) => {
                        drop(guard);
                        log_at!(Level::Debug, "{}: token from Redis", profile.name);
                        self.save_local(files.as_deref(), key, &t);
                        return Ok(t);
                    }
                    Ok((guard, None)) => Some(guard),
                    Err(e) if *fallback == RedisFallback::Local => {
                        log_at!(
                            Level::Error,
                            "{}: Redis unavailable, coordinating through this machine only: {e}",
                            profile.name
                        );
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };

        // A token under an interrupted fetch's marker may have been revoked: never a fallback.
        let previous = if interrupted {
            None
        } else {
            self.best_valid(files.as_deref(), key)
        };
        log_at!(Level::Info, "{}: fetching a new token", profile.name);
        if let Some(files) = &files {
            // Reserves room for the token: a store that cannot record it stops the fetch here.
            files.begin_fetch(&key.hash)?;
        }
        let outcome = fetch();
        if let Some(files) = &files {
            match &outcome {
                Ok(token) => {
                    if let Err(e) = files.finish_fetch(&key.hash, &key.label, token) {
                        // The marker stays, so other processes fetch anew rather than trust
                        // the token this one replaced.
                        log_at!(Level::Error, "{}: {e}", profile.name);
                    }
                }
                // A refusal means no token was issued; anything else (timeout, cut connection,
                // 5xx) may have issued one, so the marker stays and the next caller fetches.
                Err(e) if !outcome_is_ambiguous(e) => files.end_fetch(&key.hash),
                Err(_) => {}
            }
        }
        match outcome {
            Ok(token) => {
                #[cfg(feature = "redis")]
                if let Some(guard) = &redis_lock {
                    if let Err(e) = guard.store(&token) {
                        log_at!(
                            Level::Error,
                            "{}: cannot write the token to Redis: {e}",
                            profile.name
                        );
                    }
                }
                self.remember(key, &token);
                log_at!(
                    Level::Info,
                    "{}: new token {} expires at {}",
                    profile.name,
                    token.masked(),
                    token.expires_at_ms()
                );
                Ok(token)
            }
            Err(e) => match previous {
                Some(valid) => {
                    log_at!(
                        Level::Warn,
                        "{}: refresh failed, the cached token {} is still valid and is used: {e}",
                        profile.name,
                        valid.masked()
                    );
                    Ok(valid)
                }
                None => Err(e),
            },
        }
    }

    /// The newest token known locally that has not expired (margin or not).
    fn best_valid(&self, files: Option<&FileStore>, key: &TokenKey) -> Option<Token> {
        let now = now_ms();
        let from_file = files.and_then(|f| f.read(&key.hash));
        [self.memory_get(key), from_file]
            .into_iter()
            .flatten()
            .filter(|t| t.expires_at_ms() > now)
            .max_by_key(|t| t.obtained_at_ms())
    }

    /// Stores a token that came from Redis in the file store and memory.
    #[cfg(feature = "redis")]
    fn save_local(&self, files: Option<&FileStore>, key: &TokenKey, token: &Token) {
        if let Some(files) = files {
            // The caller holds the key's file lock, so this write races with no other writer.
            if let Err(e) = files.write(&key.hash, &key.label, token) {
                log_at!(Level::Error, "{e}");
            }
        }
        self.remember(key, token);
    }

    /// Drops the stored token only if it is still `value`, the one the caller saw fail: a late
    /// 401 with an old token cannot throw away a token another thread just fetched. Returns
    /// whether anything was dropped.
    pub fn invalidate(&self, profile: &Profile, key: &TokenKey, value: &str) -> Result<bool> {
        let _mark = FetchingMark::enter()?;
        let mut dropped = false;
        {
            let mut memory = lock(&self.memory);
            if memory.get(&key.hash).is_some_and(|t| t.value() == value) {
                memory.remove(&key.hash);
                dropped = true;
            }
        }
        if let Some(files) = self.file_store()? {
            let (_guard, _) = files.lock(&key.hash, self.config.lock_timeout)?;
            dropped |= files.remove_if(&key.hash, value)?;
        }
        #[cfg(feature = "redis")]
        if let Some((redis, fallback)) = &self.redis {
            match redis.remove_if(key, value) {
                Ok(d) => dropped |= d,
                Err(e) if *fallback == RedisFallback::Local => {
                    log_at!(
                        Level::Error,
                        "{}: Redis unavailable for invalidate: {e}",
                        profile.name
                    )
                }
                Err(e) => return Err(e),
            }
        }
        log_at!(
            Level::Info,
            "{}: invalidate {}: {}",
            profile.name,
            mask(value),
            if dropped {
                "dropped"
            } else {
                "not the current token, kept"
            }
        );
        Ok(dropped)
    }
}

/// Whether a failed fetch may still have made the server issue (and so revoke) a token.
fn outcome_is_ambiguous(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::Timeout
            | ErrorKind::Connect
            | ErrorKind::Protocol
            | ErrorKind::HttpServerError
            | ErrorKind::Panic
    )
}
