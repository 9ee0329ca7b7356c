//! Tokens a keeper serves (`served_by_keeper`): a consumer never fetches; it takes the token
//! the keeper put in the shared store, and waits — bounded — when there is none. The keeper
//! (`suz keep`) is an ordinary cache that also looks past its memory to the store, so that a
//! token a consumer dropped (a 401) is fetched again at once.

use std::time::{Duration, Instant};

use super::base::TokenManager;
use super::sync::write;
use crate::error::{Error, ErrorKind, Result};
use crate::token::key::{Policy, TokenKey};
use crate::token::{now_ms, Token};

/// How often a waiting consumer looks at the store.
const POLL: Duration = Duration::from_millis(50);

impl TokenManager {
    /// The stores' valid token of `key` (the file store's, else Redis's), remembered in memory;
    /// `None` when neither holds one that has not expired.
    pub fn stored_valid(&self, key: &TokenKey) -> Option<Token> {
        let now = now_ms();
        let from_file = self
            .file_store()
            .ok()
            .flatten()
            .and_then(|f| f.read(&key.hash, &key.label))
            .filter(|t| t.expires_at_ms() > now);
        #[cfg(feature = "redis")]
        let from_file = from_file.or_else(|| {
            let (redis, _) = self.redis.as_ref()?;
            let deadline = Instant::now() + self.config.lock_timeout.min(Duration::from_secs(5));
            redis
                .peek(key, deadline)
                .ok()
                .flatten()
                .filter(|t| t.expires_at_ms() > now)
        });
        // Remembered only when it is news: a consumer reads the store on every get inside the
        // margin, and each memory write sends every thread back past its own copy.
        if let Some(token) = &from_file {
            if self
                .memory_get(key)
                .is_none_or(|m| m.value() != token.value())
            {
                self.remember(key, token);
            }
        }
        from_file
    }

    /// Publishes the keeper's heartbeat to the stores (the file store's directory and Redis):
    /// a JSON document the status shows; with Redis it lives `ttl`. A store that cannot take it
    /// is an error (the keeper logs it and goes on).
    pub fn put_heartbeat(&self, heartbeat: &serde_json::Value, ttl: Duration) -> Result<()> {
        let bytes = heartbeat.to_string().into_bytes();
        if let Some(files) = self.file_store()? {
            files.write_heartbeat(&bytes)?;
        }
        #[cfg(feature = "redis")]
        if let Some((redis, _)) = &self.redis {
            redis.put_heartbeat(&bytes, ttl)?;
        }
        #[cfg(not(feature = "redis"))]
        let _ = ttl;
        Ok(())
    }

    /// The keeper's last heartbeat: Redis's when Redis is configured, else the file store's;
    /// `None` when there is none or it is not a JSON object (it is shown, never trusted).
    pub fn heartbeat(&self) -> Option<serde_json::Value> {
        #[cfg(feature = "redis")]
        let bytes = match &self.redis {
            Some((redis, _)) => redis.heartbeat().ok().flatten(),
            None => None,
        };
        #[cfg(not(feature = "redis"))]
        let bytes: Option<Vec<u8>> = None;
        let bytes = bytes.or_else(|| self.file_store().ok().flatten()?.heartbeat())?;
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .filter(serde_json::Value::is_object)
    }

    /// Forgets this process's copy of `key`'s token (the stores keep theirs).
    pub fn forget_memory(&self, key: &TokenKey) -> Option<Token> {
        let removed = write(&self.memory).remove(&key.id);
        if removed.is_some() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        removed
    }

    /// A consumer's get: the token the keeper keeps. The memory copy while it is outside its
    /// refresh margin; within it (when the keeper refreshes) the store's, so a new token — which
    /// for SUZ revokes the old — is picked up at once; with none valid anywhere, the store is
    /// watched for at most `cache.lock_timeout_ms`, then [`ErrorKind::NotKept`].
    pub fn kept<'p>(&self, profile: impl Into<Policy<'p>>, key: &TokenKey) -> Result<Token> {
        let profile = &profile.into();
        if let Some(token) = self.memory_get(key).filter(|t| self.is_fresh(profile, t)) {
            return Ok(token);
        }
        let waited = Instant::now();
        let until = waited + self.config.lock_timeout;
        let mut counted = false;
        loop {
            if let Some(token) = self.stored_valid(key) {
                return Ok(token);
            }
            // The memory copy, due for refresh but still valid, while the keeper works on it.
            if let Some(token) = self
                .memory_get(key)
                .filter(|t| t.expires_at_ms() > now_ms())
            {
                return Ok(token);
            }
            let now = Instant::now();
            if !counted {
                self.count_wait();
                counted = true;
            }
            if now >= until {
                return Err(Error::new(
                    ErrorKind::NotKept,
                    format!(
                        "{}: served by a keeper, and the shared store has no valid token (waited {} ms): this process signs nothing; start the keeper (`suz keep`) where the key is",
                        profile.name,
                        waited.elapsed().as_millis()
                    ),
                ));
            }
            std::thread::sleep(POLL.min(until - now));
        }
    }
}
