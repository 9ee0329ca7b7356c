//! Leases on this machine: a record in the file store (or in memory without one), read and
//! written under the key's lock, and their release in Redis.

use super::base::TokenManager;
use super::sync::lock;
use crate::error::Result;
use crate::log::{log_at, Level};
use crate::token::key::{Policy, TokenKey};
use crate::token::store::FileStore;
use crate::token::{now_ms, Token};

/// A one-call fetch's lease in memory (a cache without a file store), dropped when it ends.
pub(super) struct MemoryLease<'a> {
    pub(super) manager: &'a TokenManager,
    pub(super) hash: &'a str,
    pub(super) owner: String,
}

impl Drop for MemoryLease<'_> {
    fn drop(&mut self) {
        self.manager.drop_local_lease(None, self.hash, &self.owner);
    }
}

impl TokenManager {
    /// A fresh token in the file store, unless a fetch was interrupted there (the stored token
    /// may have been revoked). The caller holds the key's lock.
    pub(super) fn stored_fresh(
        &self,
        profile: &Policy<'_>,
        key: &TokenKey,
        files: Option<&FileStore>,
    ) -> Option<Token> {
        let files = files?;
        if files.fetch_interrupted(&key.hash) {
            return None;
        }
        let token = files
            .read(&key.hash, &key.label)
            .filter(|t| self.is_fresh(profile, t))?;
        self.remember(key, &token);
        Some(token)
    }

    /// Whether a caller other than `owner` holds a live lease on the key in the file store;
    /// the caller holds the key's lock.
    pub(super) fn leased_by_other_than(&self, files: &FileStore, hash: &str, owner: &str) -> bool {
        files
            .read_lease(hash)
            .is_some_and(|(o, until)| o != owner && until > now_ms())
    }

    /// Whether a caller holds a live lease on the key in the file store; the caller holds the
    /// key's lock.
    pub(super) fn leased_by_other(&self, files: &FileStore, hash: &str) -> bool {
        files
            .read_lease(hash)
            .is_some_and(|(_, until)| until > now_ms())
    }

    /// Takes or renews the key's lease for `owner` until `until`, unless another owner holds
    /// a live one (then `false`). With a file store the caller holds the key's lock; in memory
    /// the check and the write are under one mutex.
    pub(super) fn claim_local(
        &self,
        files: Option<&FileStore>,
        hash: &str,
        owner: &str,
        until: i64,
    ) -> Result<bool> {
        let now = now_ms();
        let held_by_other = |record: Option<&(String, i64)>| {
            record.is_some_and(|(o, expires)| o != owner && *expires > now)
        };
        match files {
            Some(f) => {
                if held_by_other(f.read_lease(hash).as_ref()) {
                    return Ok(false);
                }
                f.write_lease(hash, owner, until)?;
            }
            None => {
                let mut leases = lock(&self.leases);
                if held_by_other(leases.get(hash)) {
                    return Ok(false);
                }
                leases.insert(hash.to_owned(), (owner.to_owned(), until));
            }
        }
        Ok(true)
    }

    /// Removes `owner`'s lease record. With a file store the caller holds the key's lock.
    pub(super) fn drop_local_lease(&self, files: Option<&FileStore>, hash: &str, owner: &str) {
        match files {
            Some(f) => f.remove_lease(hash, owner),
            None => {
                let mut leases = lock(&self.leases);
                if leases.get(hash).is_some_and(|(o, _)| o == owner) {
                    leases.remove(hash);
                }
            }
        }
    }

    /// [`TokenManager::drop_local_lease`] for a caller that does not hold the key's lock. If
    /// the lock cannot be had, the record stays until it expires.
    pub(super) fn release_local(&self, files: Option<&FileStore>, hash: &str, owner: &str) {
        let _guard = match files {
            Some(f) => match f.lock(hash, self.config.lock_timeout) {
                Ok((guard, _)) => Some(guard),
                Err(e) => {
                    log_at!(
                        Level::Warn,
                        "cannot release a lease now (it expires by itself): {e}"
                    );
                    return;
                }
            },
            None => None,
        };
        self.drop_local_lease(files, hash, owner);
    }

    /// Releases `owner`'s lease in Redis, if Redis is used; a failure is logged (the lease
    /// expires by itself).
    pub(super) fn release_redis(&self, _profile: &Policy<'_>, _key: &TokenKey, _owner: &str) {
        #[cfg(feature = "redis")]
        if let Some((redis, _)) = &self.redis {
            if let Err(e) = redis.release_lease(_key, _owner) {
                log_at!(
                    Level::Warn,
                    "{}: cannot release the lease in Redis now (it expires by itself): {e}",
                    _profile.name
                );
            }
        }
    }
}
