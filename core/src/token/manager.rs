//! One live token per installation: the memory cache, single flight across threads (a mutex per
//! key), across processes (the file store's OS lock) and across machines (Redis), and
//! compare-and-invalidate.
//!
//! The order of a fetch: memory -> (thread gate) memory again -> (file lock) file store ->
//! (Redis lock) Redis -> fetch -> write Redis, file, memory. Every waiter re-reads after it gets
//! a lock, so it takes the token the winner fetched instead of fetching its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

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
    gates: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    files: Option<FileStore>,
    #[cfg(feature = "redis")]
    redis: Option<(RedisStore, RedisFallback)>,
    config: CacheConfig,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the cache down: the data is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TokenManager {
    /// A cache with these settings; creates the file store's directory when persistence is on. A
    /// `redis` configuration is an error in a build without the `redis` feature.
    pub fn new(config: &CacheConfig, redis: Option<&RedisConfig>) -> Result<TokenManager> {
        #[cfg(not(feature = "redis"))]
        if redis.is_some() {
            return Err(Error::config(
                "config key `redis`: this build of suz-auth has no Redis support (cargo feature `redis`)",
            ));
        }
        let files = config.dir.as_deref().map(FileStore::open).transpose()?;
        Ok(TokenManager {
            memory: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            files,
            #[cfg(feature = "redis")]
            redis: redis.map(|r| (RedisStore::new(r.clone()), r.on_unavailable)),
            config: config.clone(),
        })
    }

    /// The file store; `None` when persistence is off (memory only).
    pub fn file_store(&self) -> Option<&FileStore> {
        self.files.as_ref()
    }

    fn margin_ms(&self, profile: &Profile, token: &Token) -> i64 {
        if let Some(m) = profile.refresh_margin.or(self.config.refresh_margin) {
            return m.as_millis() as i64;
        }
        let lifetime = (token.expires_at_ms() - token.obtained_at_ms()).max(0);
        (lifetime / 5).min(MAX_AUTO_MARGIN_MS)
    }

    fn is_fresh(&self, profile: &Profile, token: &Token) -> bool {
        token.expires_at_ms() - now_ms() > self.margin_ms(profile, token)
    }

    fn memory_get(&self, key: &TokenKey) -> Option<Token> {
        lock(&self.memory).get(&key.hash).cloned()
    }

    fn remember(&self, key: &TokenKey, token: &Token) {
        lock(&self.memory).insert(key.hash.clone(), token.clone());
    }

    /// The cached token while it has more than the refresh margin left; otherwise one fetch
    /// per key on this machine (and across machines with Redis), whose result every waiter
    /// shares. If the refresh fails while a cached token is still valid, that token is
    /// returned and the failure logged.
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
        let gate = lock(&self.gates)
            .entry(key.hash.clone())
            .or_insert_with(|| Arc::new(Mutex::new(())))
            .clone();
        let _thread_turn = lock(&gate);
        if let Some(t) = self.memory_get(key).filter(|t| self.is_fresh(profile, t)) {
            log_at!(
                Level::Debug,
                "{}: another thread fetched the token; using it",
                profile.name
            );
            return Ok(t);
        }

        let _file_lock = match &self.files {
            Some(files) => {
                let (guard, waited) = files.lock(&key.hash, self.config.lock_timeout)?;
                if waited {
                    log_at!(
                        Level::Info,
                        "{}: waited for another process's fetch",
                        profile.name
                    );
                }
                if files.fetch_interrupted(&key.hash) {
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
                        self.save_local(key, &t);
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

        let previous = self.best_valid(key);
        log_at!(Level::Info, "{}: fetching a new token", profile.name);
        if let Some(files) = &self.files {
            files.begin_fetch(&key.hash)?;
        }
        let outcome = fetch();
        if let Some(files) = &self.files {
            match &outcome {
                Ok(token) => {
                    // Store first, then clear the marker: a death in between is still seen.
                    if let Err(e) = files.write(&key.hash, &key.label, token) {
                        log_at!(Level::Error, "{e}");
                    }
                    files.end_fetch(&key.hash);
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
    fn best_valid(&self, key: &TokenKey) -> Option<Token> {
        let now = now_ms();
        let from_file = self.files.as_ref().and_then(|f| f.read(&key.hash));
        [self.memory_get(key), from_file]
            .into_iter()
            .flatten()
            .filter(|t| t.expires_at_ms() > now)
            .max_by_key(|t| t.obtained_at_ms())
    }

    /// Stores a token that came from Redis in the file store and memory.
    #[cfg(feature = "redis")]
    fn save_local(&self, key: &TokenKey, token: &Token) {
        if let Some(files) = &self.files {
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
        let gate = lock(&self.gates)
            .entry(key.hash.clone())
            .or_insert_with(|| Arc::new(Mutex::new(())))
            .clone();
        let _thread_turn = lock(&gate);
        let mut dropped = false;
        {
            let mut memory = lock(&self.memory);
            if memory.get(&key.hash).is_some_and(|t| t.value() == value) {
                memory.remove(&key.hash);
                dropped = true;
            }
        }
        if let Some(files) = &self.files {
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
