//! The one-call path: a get served from memory, or one fetch per key on this machine (and across
//! machines with Redis) whose outcome every waiter shares; and compare-and-invalidate.

use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::base::{in_progress, millis, FetchingMark, TokenManager, MAX_POLL};
use super::flight::{Flight, Leading};
use super::local_lease::MemoryLease;
use super::sync::{lock, write};
#[cfg(feature = "redis")]
use crate::config::RedisFallback;
use crate::error::{Error, ErrorKind, Result};
use crate::log::{log_at, Level};
use crate::token::key::{Policy, TokenKey};
use crate::token::store::Locked;
use crate::token::{mask, now_ms, Token};

impl TokenManager {
    /// The cached token while it has more than the refresh margin left; otherwise one fetch
    /// per key on this machine (and across machines with Redis), whose outcome every waiter
    /// shares — a failure too. Every wait (for another thread, another process, another
    /// machine) ends after `cache.lock_timeout_ms` with [`ErrorKind::Timeout`]. If the refresh
    /// fails while a cached token is still valid, that token is returned and the failure logged
    /// (never a token a previous, interrupted fetch may have revoked).
    ///
    /// Only callers without a valid token wait: while the cached token is inside its refresh
    /// margin but not expired, one caller refreshes and every other caller — another thread
    /// while that fetch runs, or this caller when another process holds the lock — gets the
    /// cached token at once. [`TokenManager::get_or_refresh_behind`] does not make even that
    /// one caller wait.
    pub fn get<'p>(
        &self,
        profile: impl Into<Policy<'p>>,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
        let profile = &profile.into();
        self.get_or_refresh_behind(profile, key, fetch, None)
    }

    /// [`TokenManager::get`], except that a still-valid token inside its refresh margin is
    /// returned at once and `behind` is called (once per key at a time) to start its refresh
    /// elsewhere — on a thread that calls [`TokenManager::refresh`]. `behind` returns false
    /// when it could not start one; this caller then refreshes itself.
    pub fn get_or_refresh_behind<'p>(
        &self,
        profile: impl Into<Policy<'p>>,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
        behind: Option<&dyn Fn() -> bool>,
    ) -> Result<Token> {
        let profile = &profile.into();
        let cached = match self.memory_get_near(key) {
            Some(t) if self.is_fresh(profile, &t) => {
                log_at!(Level::Debug, "{}: cache hit ({})", profile.name, key.label);
                return Ok(t);
            }
            cached => cached,
        };
        let valid = cached.filter(|t| t.expires_at_ms() > now_ms());
        if let (Some(t), Some(behind)) = (&valid, behind) {
            let first = lock(&self.refreshing).insert(key.hash.clone());
            if !first {
                return Ok(t.clone());
            }
            if behind() {
                log_at!(
                    Level::Debug,
                    "{}: refreshing behind the callers; the cached token is still valid",
                    profile.name
                );
                return Ok(t.clone());
            }
            lock(&self.refreshing).remove(&key.hash);
        }
        self.get_now(profile, key, fetch, valid)
    }

    /// The refresh [`TokenManager::get_or_refresh_behind`] starts: one try at a new token
    /// (the valid one stays cached when another process is refreshing or the fetch fails).
    pub fn refresh<'p>(
        &self,
        profile: impl Into<Policy<'p>>,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
        let profile = &profile.into();
        struct Done<'a>(&'a TokenManager, &'a str);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                lock(&self.0.refreshing).remove(self.1);
            }
        }
        let _done = Done(self, &key.hash);
        let valid = self
            .memory_get(key)
            .filter(|t| t.expires_at_ms() > now_ms());
        self.get_now(profile, key, fetch, valid)
    }

    /// The part of a get after the memory hit: lead the key's fetch, or wait for (or, with a
    /// `valid` token, skip) the thread leading it.
    pub(super) fn get_now(
        &self,
        profile: &Policy<'_>,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
        valid: Option<Token>,
    ) -> Result<Token> {
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
            if let Some(t) = valid {
                log_at!(
                    Level::Debug,
                    "{}: another thread is refreshing; the cached token is still valid",
                    profile.name
                );
                return Ok(t);
            }
            return self.wait_for(profile, &flight);
        }
        let leading = Leading {
            flights: &self.flights,
            hash: &key.hash,
            flight,
        };
        let outcome = match valid {
            // Refresh if nobody else is: no wait for another process's lock or lease.
            Some(t) => match self.lead_once(profile, key, fetch, Duration::ZERO) {
                Ok(Some(fresh)) => Ok(fresh),
                Ok(None) | Err(_) => {
                    log_at!(
                        Level::Debug,
                        "{}: another process is refreshing; the cached token is still valid",
                        profile.name
                    );
                    Ok(t)
                }
            },
            None => self.lead(profile, key, fetch),
        };
        leading.publish(&outcome);
        outcome
    }

    /// Waits for the thread leading the fetch, at most `cache.lock_timeout_ms`.
    pub(super) fn wait_for(&self, profile: &Policy<'_>, flight: &Flight) -> Result<Token> {
        let limit = self.config.lock_timeout;
        let started = Instant::now();
        let outcome = match flight.outcome.get() {
            Some(outcome) => outcome,
            None => {
                self.count_wait();
                let mut gate = lock(&flight.gate);
                loop {
                    // Checked under the mutex, which `finish` takes after setting the outcome:
                    // its wake-up cannot fall between this check and the wait.
                    if let Some(outcome) = flight.outcome.get() {
                        break outcome;
                    }
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
                    gate = flight
                        .done
                        .wait_timeout(gate, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        log_at!(
            Level::Debug,
            "{}: another thread fetched the token; using its outcome",
            profile.name
        );
        outcome.clone()
    }

    /// The leader's part: tries until it has a token, or another caller's lease (a two-phase
    /// fetch under way) outlasts `cache.lock_timeout_ms`.
    pub(super) fn lead(
        &self,
        profile: &Policy<'_>,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
        let limit = self.config.lock_timeout;
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let left = limit.saturating_sub(started.elapsed());
            if let Some(token) = self.lead_once(profile, key, fetch, left)? {
                return Ok(token);
            }
            if started.elapsed() >= limit {
                return Err(in_progress(profile, limit));
            }
            if pause == Duration::from_millis(5) {
                self.count_wait();
            }
            std::thread::sleep(pause.min(limit.saturating_sub(started.elapsed())));
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    /// One try: the memory again, the file store under its lock, Redis under its lock, and
    /// only then a fetch. `None` when another caller holds the key's lease.
    pub(super) fn lead_once(
        &self,
        profile: &Policy<'_>,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
        wait: Duration,
    ) -> Result<Option<Token>> {
        // A fetch may have ended between the first look and taking the lead.
        if let Some(t) = self.memory_get(key).filter(|t| self.is_fresh(profile, t)) {
            return Ok(Some(t));
        }
        let files = self.file_store()?;
        let mut interrupted = false;
        let _file_lock = match &files {
            Some(files) => {
                // Waiting for another process's fetch, read what it stored as soon as it
                // lets go, alongside every other process waiting for it.
                let stored = || {
                    if files.fetch_interrupted(&key.hash) {
                        return None;
                    }
                    files
                        .read(&key.hash, &key.label)
                        .filter(|t| self.is_fresh(profile, t))
                };
                let (guard, waited) = match files.lock_unless(&key.hash, wait, stored)? {
                    Locked::Ready(t) => {
                        self.count_wait();
                        log_at!(
                            Level::Info,
                            "{}: waited for another process's fetch; its token is in the file store",
                            profile.name
                        );
                        self.remember(key, &t);
                        return Ok(Some(t));
                    }
                    Locked::Held(guard, waited) => (guard, waited),
                };
                if waited {
                    self.count_wait();
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
                } else if let Some(t) = files
                    .read(&key.hash, &key.label)
                    .filter(|t| self.is_fresh(profile, t))
                {
                    log_at!(Level::Debug, "{}: token from the file store", profile.name);
                    self.remember(key, &t);
                    return Ok(Some(t));
                }
                Some(guard)
            }
            None => None,
        };
        // A two-phase caller's lease is waited for. Without a file store, whose lock keeps
        // two-phase callers out during this fetch, the fetch holds a lease in memory.
        let _memory_lease = match &files {
            Some(files) if self.leased_by_other(files, &key.hash) => return Ok(None),
            Some(_) => None,
            None => {
                let owner = crate::random::uuid().simple().to_string();
                let until = now_ms().saturating_add(millis(self.config.send_hold));
                if !self.claim_local(None, &key.hash, &owner, until)? {
                    return Ok(None);
                }
                Some(MemoryLease {
                    manager: self,
                    hash: &key.hash,
                    owner,
                })
            }
        };

        #[cfg(feature = "redis")]
        let redis_lock = match &self.redis {
            Some((redis, fallback)) => {
                match redis.lock_and_read(key, &|t| self.is_fresh(profile, t), wait) {
                    Ok((guard, Some(t))) => {
                        drop(guard);
                        log_at!(Level::Debug, "{}: token from Redis", profile.name);
                        self.save_local(files.as_deref(), key, &t);
                        return Ok(Some(t));
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
            // Nothing was sent, so a still-valid token is still good: it is served.
            if let Err(e) = files.begin_fetch(&key.hash) {
                return match previous {
                    Some(valid) => {
                        log_at!(
                            Level::Warn,
                            "{}: cannot refresh now, the cached token {} is still valid and is used: {e}",
                            profile.name,
                            valid.masked()
                        );
                        Ok(Some(valid))
                    }
                    None => Err(e),
                };
            }
        }
        #[allow(unused_mut)]
        let mut outcome = fetch();
        #[allow(unused_mut)]
        let mut settled = true;
        #[cfg(feature = "redis")]
        if let Some(guard) = redis_lock {
            (outcome, settled) = self.store_in_redis(profile, key, guard, outcome, fetch);
        }
        let outcome = self.record(profile, key, files.as_deref(), outcome, settled);
        match outcome {
            Ok(token) => Ok(Some(token)),
            // After a lost lock every token known before may have been revoked.
            Err(e) if !settled => Err(e),
            Err(e) => match previous {
                Some(valid) => {
                    log_at!(
                        Level::Warn,
                        "{}: refresh failed, the cached token {} is still valid and is used: {e}",
                        profile.name,
                        valid.masked()
                    );
                    Ok(Some(valid))
                }
                None => Err(e),
            },
        }
    }

    /// Drops the stored token only if it is still `value`, the one the caller saw fail: a late
    /// 401 with an old token cannot throw away a token another thread just fetched. Returns
    /// whether anything was dropped.
    pub fn invalidate<'p>(
        &self,
        profile: impl Into<Policy<'p>>,
        key: &TokenKey,
        value: &str,
    ) -> Result<bool> {
        let profile = &profile.into();
        let _mark = FetchingMark::enter()?;
        let mut dropped = false;
        {
            let mut memory = write(&self.memory);
            if memory.get(&key.id).is_some_and(|t| t.value() == value) {
                memory.remove(&key.id);
                self.generation.fetch_add(1, AtomicOrdering::Release);
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
