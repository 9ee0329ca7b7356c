//! What a fetch leaves behind: the token stored in Redis, the file store and memory — or, after
//! a lost lock, nothing anyone would trust.

use super::base::{outcome_is_ambiguous, TokenManager};
use crate::error::Result;
#[cfg(feature = "redis")]
use crate::error::{Error, ErrorKind};
use crate::log::{log_at, Level};
use crate::token::key::{Policy, TokenKey};
use crate::token::store::FileStore;
use crate::token::{now_ms, Token};

impl TokenManager {
    /// Stores a fetched token in Redis under the lock `guard` holds. If the lock was lost to
    /// another machine in the meantime (a Redis pause or failover longer than its life), both
    /// may have minted a token and only the server knows which came last: this fetches once
    /// more under the lock, ignoring whatever Redis holds, so the fleet converges on that
    /// token (a machine still serving the other one recovers on its first 401). If that fails
    /// too, the token in Redis is deleted, so that the next caller anywhere fetches anew.
    /// Returns the outcome and whether it is settled (`false`: nothing known may be trusted).
    #[cfg(feature = "redis")]
    pub(super) fn store_in_redis(
        &self,
        profile: &Policy<'_>,
        key: &TokenKey,
        guard: crate::token::redis::RedisGuard,
        outcome: Result<Token>,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> (Result<Token>, bool) {
        let Some((redis, _)) = &self.redis else {
            return (outcome, true);
        };
        let Ok(token) = &outcome else {
            return (outcome, true);
        };
        match guard.store(token) {
            Ok(true) => return (outcome, true),
            Ok(false) => {}
            Err(e) => {
                log_at!(
                    Level::Error,
                    "{}: cannot write the token to Redis: {e}",
                    profile.name
                );
                return (outcome, true);
            }
        }
        drop(guard);
        log_at!(
            Level::Warn,
            "{}: the Redis lock was lost during the fetch; fetching once more under the lock so that every machine ends up with the live token",
            profile.name
        );
        let again = redis
            .lock_and_read(key, &|_| false, self.config.lock_timeout)
            .and_then(|(guard, _)| {
                let token = fetch()?;
                match guard.store(&token) {
                    Ok(true) => Ok(token),
                    Ok(false) => Err(Error::new(
                        ErrorKind::Store,
                        "the Redis lock was lost twice in a row while fetching; the token is not trusted",
                    )),
                    Err(e) => {
                        log_at!(
                            Level::Error,
                            "{}: cannot write the token to Redis: {e}",
                            profile.name
                        );
                        Ok(token)
                    }
                }
            });
        match again {
            Ok(token) => (Ok(token), true),
            Err(e) => {
                if let Err(e) = redis.forget(key) {
                    log_at!(
                        Level::Error,
                        "{}: cannot delete the token in Redis after a lost lock: {e}",
                        profile.name
                    );
                }
                (Err(e), false)
            }
        }
    }

    /// After a fetch: the file store's marker becomes the token (or goes, when the failure
    /// certainly minted nothing), memory keeps it. An outcome that is not `settled` (a lock was
    /// lost: the token may be revoked) leaves the marker, so that the next caller fetches anew,
    /// and is not kept. Returns the outcome to report.
    pub(super) fn record(
        &self,
        profile: &Policy<'_>,
        key: &TokenKey,
        files: Option<&FileStore>,
        outcome: Result<Token>,
        settled: bool,
    ) -> Result<Token> {
        if !settled {
            if let Ok(token) = &outcome {
                log_at!(
                    Level::Warn,
                    "{}: token {} is handed out but not cached: another machine may have minted one after it",
                    profile.name,
                    token.masked()
                );
            }
            return outcome;
        }
        if let Some(files) = files {
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
        if let Ok(token) = &outcome {
            self.remember(key, token);
            log_at!(
                Level::Info,
                "{}: new token {} expires at {}",
                profile.name,
                token.masked(),
                token.expires_at_ms()
            );
        }
        outcome
    }

    /// The newest token known locally that has not expired (margin or not).
    pub(super) fn best_valid(&self, files: Option<&FileStore>, key: &TokenKey) -> Option<Token> {
        let now = now_ms();
        let from_file = files.and_then(|f| f.read(&key.hash, &key.label));
        [self.memory_get(key), from_file]
            .into_iter()
            .flatten()
            .filter(|t| t.expires_at_ms() > now)
            .max_by_key(|t| t.obtained_at_ms())
    }

    /// Stores a token that came from Redis in the file store and memory.
    #[cfg(feature = "redis")]
    pub(super) fn save_local(&self, files: Option<&FileStore>, key: &TokenKey, token: &Token) {
        if let Some(files) = files {
            // The caller holds the key's file lock, so this write races with no other writer.
            if let Err(e) = files.write(&key.hash, &key.label, token) {
                log_at!(Level::Error, "{e}");
            }
        }
        self.remember(key, token);
    }
}
