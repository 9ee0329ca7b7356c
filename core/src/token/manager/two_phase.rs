//! The two-phase form: a lease on a key's fetch held between `acquire` and `complete`, in the
//! file store (or in memory) and in Redis (see [`crate::token::lease`]).

use std::time::{Duration, Instant};

use super::base::{
    in_progress, lease_lost, millis, Acquired, FetchingMark, TokenManager, MAX_POLL,
};
#[cfg(feature = "redis")]
use crate::config::RedisFallback;
use crate::error::{ErrorKind, Result};
use crate::log::{log_at, Level};
use crate::token::key::{Policy, TokenKey};
use crate::token::lease::Lease;
#[cfg(feature = "redis")]
use crate::token::redis::LeaseTry;
use crate::token::{now_ms, Token};

impl TokenManager {
    /// Two-phase, phase one: a fresh cached token, or the key's lease for this caller (see
    /// [`super::lease`]). A caller that finds another's live lease waits for its token, at
    /// most `cache.lock_timeout_ms`, then gets [`ErrorKind::InProgress`]; it never starts a
    /// second fetch.
    pub fn acquire<'p>(&self, profile: impl Into<Policy<'p>>, key: &TokenKey) -> Result<Acquired> {
        let profile = &profile.into();
        let _mark = FetchingMark::enter()?;
        let limit = self.config.lock_timeout;
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match self.take(profile, key, limit.saturating_sub(started.elapsed()))? {
                Some(acquired) => return Ok(acquired),
                None if started.elapsed() >= limit => return Err(in_progress(profile, limit)),
                None => {
                    std::thread::sleep(pause.min(limit.saturating_sub(started.elapsed())));
                    pause = (pause * 2).min(MAX_POLL);
                }
            }
        }
    }

    /// One try of [`TokenManager::acquire`]; `None` while another caller holds the lease.
    pub(super) fn take(
        &self,
        profile: &Policy<'_>,
        key: &TokenKey,
        wait: Duration,
    ) -> Result<Option<Acquired>> {
        if let Some(t) = self.memory_get(key).filter(|t| self.is_fresh(profile, t)) {
            return Ok(Some(Acquired::Token(t)));
        }
        let files = self.file_store()?;
        let owner = crate::random::uuid().simple().to_string();
        let expires_at_ms = now_ms().saturating_add(millis(self.config.lease));
        {
            let _guard = match &files {
                Some(f) => match f.lock(&key.hash, wait) {
                    Ok((guard, _)) => Some(guard),
                    // A one-call fetch holds the lock for its whole length.
                    Err(e) if e.kind == ErrorKind::Timeout => return Ok(None),
                    Err(e) => return Err(e),
                },
                None => None,
            };
            if let Some(t) = self.stored_fresh(profile, key, files.as_deref()) {
                return Ok(Some(Acquired::Token(t)));
            }
            if !self.claim_local(files.as_deref(), &key.hash, &owner, expires_at_ms)? {
                return Ok(None);
            }
        }
        #[cfg(feature = "redis")]
        if let Some((redis, fallback)) = &self.redis {
            let found = match redis.try_lease(key, &owner, self.config.lease, &|t| {
                self.is_fresh(profile, t)
            }) {
                Ok(LeaseTry::Taken) => None,
                Ok(LeaseTry::Token(t)) => {
                    log_at!(Level::Debug, "{}: token from Redis", profile.name);
                    self.remember(key, &t);
                    Some(Some(Acquired::Token(t)))
                }
                Ok(LeaseTry::Busy(_) | LeaseTry::Lost) => Some(None),
                Err(e) if *fallback == RedisFallback::Local => {
                    log_at!(
                        Level::Error,
                        "{}: Redis unavailable, the lease covers this machine only: {e}",
                        profile.name
                    );
                    None
                }
                Err(e) => {
                    self.release_local(files.as_deref(), &key.hash, &owner);
                    return Err(e);
                }
            };
            if let Some(found) = found {
                self.release_local(files.as_deref(), &key.hash, &owner);
                return Ok(found);
            }
        }
        log_at!(
            Level::Info,
            "{}: lease taken; the token is fetched when the signature comes",
            profile.name
        );
        Ok(Some(Acquired::Lease(Lease {
            profile: profile.name.to_owned(),
            key: key.hash.clone(),
            owner,
            expires_at_ms,
        })))
    }

    /// Two-phase, phase two: `mint` fetches the token under `lease` (sends the signed
    /// request); the token is stored and the lease released, whatever the outcome. If a fresh
    /// token is already in the cache, it is returned and nothing is sent. If another caller
    /// took the lease over after it expired: [`ErrorKind::LeaseLost`], nothing sent.
    pub fn complete<'p>(
        &self,
        profile: impl Into<Policy<'p>>,
        key: &TokenKey,
        lease: &Lease,
        mint: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
        let profile = &profile.into();
        let _mark = FetchingMark::enter()?;
        let files = self.file_store()?;
        let _guard = match &files {
            Some(f) => Some(f.lock(&key.hash, self.config.lock_timeout)?.0),
            None => None,
        };
        let owner = lease.owner.as_str();
        let fresh = self
            .memory_get(key)
            .filter(|t| self.is_fresh(profile, t))
            .or_else(|| self.stored_fresh(profile, key, files.as_deref()));
        if let Some(t) = fresh {
            log_at!(
                Level::Info,
                "{}: a fresh token is already in the cache; nothing sent",
                profile.name
            );
            self.drop_local_lease(files.as_deref(), &key.hash, owner);
            self.release_redis(profile, key, owner);
            return Ok(t);
        }
        match &files {
            // The key's file lock, held until this call returns, keeps every other caller out
            // during the send, and the OS lets it go the moment this process dies. A lease
            // record left by a process killed mid-send would block the others for
            // `send_hold`, so it goes now; the fetch marker covers a death mid-send.
            Some(f) => {
                if self.leased_by_other_than(f, &key.hash, owner) {
                    return Err(lease_lost(profile));
                }
                f.remove_lease(&key.hash, owner);
            }
            None => {
                let hold = now_ms().saturating_add(millis(self.config.send_hold));
                if !self.claim_local(None, &key.hash, owner, hold)? {
                    return Err(lease_lost(profile));
                }
            }
        }
        // In Redis the lease becomes a lock of `redis.lock_ttl_ms` renewed while this call
        // sends: a process killed mid-send blocks other machines no longer than a killed
        // one-call fetch does.
        #[cfg(feature = "redis")]
        let mut _renewing = None;
        #[cfg(feature = "redis")]
        if let Some((redis, fallback)) = &self.redis {
            let renewed =
                redis.renew_lease(key, owner, redis.lock_ttl(), &|t| self.is_fresh(profile, t));
            match renewed {
                Ok(LeaseTry::Taken) => _renewing = Some(redis.keep_renewed(key, owner)),
                Ok(LeaseTry::Token(t)) => {
                    self.drop_local_lease(files.as_deref(), &key.hash, owner);
                    self.release_redis(profile, key, owner);
                    self.remember(key, &t);
                    return Ok(t);
                }
                Ok(LeaseTry::Busy(_) | LeaseTry::Lost) => {
                    self.drop_local_lease(files.as_deref(), &key.hash, owner);
                    return Err(lease_lost(profile));
                }
                Err(e) if *fallback == RedisFallback::Local => log_at!(
                    Level::Error,
                    "{}: Redis unavailable, completing under this machine's lease only: {e}",
                    profile.name
                ),
                Err(e) => {
                    self.drop_local_lease(files.as_deref(), &key.hash, owner);
                    return Err(e);
                }
            }
        }
        if let Some(f) = &files {
            if let Err(e) = f.begin_fetch(&key.hash) {
                self.drop_local_lease(files.as_deref(), &key.hash, owner);
                self.release_redis(profile, key, owner);
                return Err(e);
            }
        }
        log_at!(Level::Info, "{}: completing the fetch", profile.name);
        let outcome = mint();
        #[allow(unused_mut)]
        let mut settled = true;
        #[cfg(feature = "redis")]
        if let (Some((redis, _)), Ok(token)) = (&self.redis, &outcome) {
            match redis.store_leased(key, owner, token) {
                Ok(stored) => settled = stored,
                Err(e) => log_at!(
                    Level::Error,
                    "{}: cannot write the token to Redis: {e}",
                    profile.name
                ),
            }
        }
        let outcome = self.record(profile, key, files.as_deref(), outcome, settled);
        // The renewing stops before the lease is released, so that it never renews a lease
        // that is gone (and never warns that it was lost).
        #[cfg(feature = "redis")]
        drop(_renewing);
        self.drop_local_lease(files.as_deref(), &key.hash, owner);
        self.release_redis(profile, key, owner);
        outcome
    }

    /// Gives `lease` up without fetching: the next caller takes the key's lease at once.
    pub fn release<'p>(
        &self,
        profile: impl Into<Policy<'p>>,
        key: &TokenKey,
        lease: &Lease,
    ) -> Result<()> {
        let profile = &profile.into();
        let files = self.file_store()?;
        self.release_local(files.as_deref(), &key.hash, &lease.owner);
        self.release_redis(profile, key, &lease.owner);
        log_at!(Level::Info, "{}: lease released", profile.name);
        Ok(())
    }
}
