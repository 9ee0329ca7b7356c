//! One live token per installation: the memory cache, single flight across threads (a mutex per
//! key), across processes (the file store's OS lock) and across machines (Redis), and
//! compare-and-invalidate.
//!
//! The order of a fetch: memory -> (lead, or wait for the leading thread) memory again -> (file
//! lock) file store, and no live lease of another caller -> (Redis lock) Redis -> fetch -> write
//! Redis, file, memory. Every waiter re-reads after it gets a lock, so it takes the token the
//! winner fetched instead of fetching its own.
//!
//! The two-phase form ([`TokenManager::acquire`], [`TokenManager::complete`]) takes the same
//! steps, but holds a lease record between them instead of the locks (see
//! [`super::lease`]).

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::time::{Duration, Instant};

use super::key::TokenKey;
use super::lease::Lease;
#[cfg(feature = "redis")]
use super::redis::{LeaseTry, RedisStore};
use super::store::{FileStore, Locked};
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
    /// Tokens by key hash. Read by every cache hit (a shared lock, held for one clone of a
    /// reference-counted token); written after a fetch.
    memory: RwLock<FxHashMap<String, Token>>,
    /// Bumped after every change of `memory`: a thread's own copy of a token (see
    /// [`TokenManager::memory_get_near`]) is good while this has not moved.
    generation: AtomicU64,
    /// Tells this manager's entries in a thread's copies from another client's.
    id: u64,
    /// Keys being refreshed behind their callers' backs (see [`TokenManager::get`]).
    refreshing: Mutex<std::collections::HashSet<String>>,
    /// Fetches under way in this process, by key: the first thread leads, the others wait for
    /// its outcome.
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// The file store, opened on first use and retried on every call until it opens.
    files: Mutex<Option<Arc<FileStore>>>,
    /// Leases by key when there is no file store (a memory-only cache): owner and expiry.
    leases: Mutex<HashMap<String, (String, i64)>>,
    #[cfg(feature = "redis")]
    redis: Option<(RedisStore, RedisFallback)>,
    /// The key sealing exported pending operations, once read (see [`TokenManager::seal_key`]).
    seal: Mutex<Option<super::SealKey>>,
    config: CacheConfig,
}

/// One fetch under way, and its outcome once known.
///
/// The outcome is read without a lock: a waiter woken by the condition variable takes the
/// mutex only to leave the wait (nothing is done while holding it), so the waiters of a fetch
/// do not queue behind each other's work. Waiting allocates nothing: the first call of a new
/// host thread does not cost it a malloc arena.
#[derive(Default)]
struct Flight {
    outcome: OnceLock<Result<Token>>,
    gate: Mutex<()>,
    done: Condvar,
}

impl Flight {
    /// Sets the outcome (the first one set stays) and wakes every waiter.
    fn finish(&self, outcome: Result<Token>) {
        let _ = self.outcome.set(outcome);
        // Taken and let go so that no waiter is between its check and its wait now.
        drop(lock(&self.gate));
        self.done.notify_all();
    }
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
        self.flight.finish(outcome.clone());
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if self.flight.outcome.get().is_none() {
            self.flight.finish(Err(Error::new(
                ErrorKind::Panic,
                "the thread fetching this token panicked",
            )));
        }
        lock(&self.manager.flights).remove(self.hash);
    }
}

/// A one-call fetch's lease in memory (a cache without a file store), dropped when it ends.
struct MemoryLease<'a> {
    manager: &'a TokenManager,
    hash: &'a str,
    owner: String,
}

impl Drop for MemoryLease<'_> {
    fn drop(&mut self) {
        self.manager.drop_local_lease(None, self.hash, &self.owner);
    }
}

/// Numbers the managers of this process (see `TokenManager::id`).
static NEXT_MANAGER_ID: AtomicU64 = AtomicU64::new(1);

/// How many tokens one thread keeps its own copies of (the most recently used ones).
const NEAR_ENTRIES: usize = 16;

/// A thread's own copy of a cached token.
struct Near {
    manager: u64,
    hash: String,
    generation: u64,
    token: Token,
}

thread_local! {
    /// This thread's copies of the tokens it was last given (see `memory_get_near`).
    static NEAR: std::cell::RefCell<Vec<Near>> = const { std::cell::RefCell::new(Vec::new()) };

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

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
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
            memory: RwLock::new(FxHashMap::default()),
            generation: AtomicU64::new(0),
            id: NEXT_MANAGER_ID.fetch_add(1, AtomicOrdering::Relaxed),
            refreshing: Mutex::new(std::collections::HashSet::new()),
            flights: Mutex::new(HashMap::new()),
            files: Mutex::new(None),
            leases: Mutex::new(HashMap::new()),
            #[cfg(feature = "redis")]
            redis: match redis {
                Some(r) => Some((RedisStore::new(r.clone())?, r.on_unavailable)),
                None => None,
            },
            seal: Mutex::new(None),
            config: config.clone(),
        })
    }

    /// The key that seals exported pending operations: Redis's when Redis is configured (every
    /// machine of the fleet shares it), else the file store's (every process on this machine),
    /// else one of this cache's own (the states open in this process only). Read once; a
    /// failure is tried again next time. With `on_unavailable: "local"`, Redis down falls back
    /// to the file store's key (logged): states sealed then open on this machine only.
    pub fn seal_key(&self) -> Result<super::SealKey> {
        if let Some(key) = lock(&self.seal).clone() {
            return Ok(key);
        }
        let (key, lasting) = self.load_seal_key()?;
        if !lasting {
            return Ok(key);
        }
        Ok(lock(&self.seal).get_or_insert(key).clone())
    }

    /// The key, and whether it is the one to keep (not a fallback while Redis is down).
    fn load_seal_key(&self) -> Result<(super::SealKey, bool)> {
        #[cfg(feature = "redis")]
        if let Some((redis, fallback)) = &self.redis {
            match redis.seal_key() {
                Ok(key) => return Ok((key, true)),
                Err(e) if *fallback == RedisFallback::Local => {
                    log_at!(
                        Level::Error,
                        "Redis unavailable for the key of exported pending operations; using this machine's: {e}"
                    );
                    let files = self.file_store()?;
                    let key = match files {
                        Some(files) => files.seal_key()?,
                        None => super::SealKey::random()?,
                    };
                    return Ok((key, false));
                }
                Err(e) => return Err(e),
            }
        }
        let key = match self.file_store()? {
            Some(files) => files.seal_key()?,
            None => super::SealKey::random()?,
        };
        Ok((key, true))
    }

    /// The Redis store's state (see [`super::RedisReport`]); `None` without a Redis store.
    pub fn redis_report(&self) -> Option<Result<super::RedisReport>> {
        #[cfg(feature = "redis")]
        if let Some((redis, _)) = &self.redis {
            return Some(redis.report());
        }
        None
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

    /// When the cache stops handing out `token` for `profile` and fetches a new one (Unix ms):
    /// its expiry less the profile's refresh margin.
    pub fn fresh_until_ms(&self, profile: &Profile, token: &Token) -> i64 {
        token
            .expires_at_ms()
            .saturating_sub(self.margin_ms(profile, token))
    }

    fn is_fresh(&self, profile: &Profile, token: &Token) -> bool {
        token.expires_at_ms().saturating_sub(now_ms()) > self.margin_ms(profile, token)
    }

    fn memory_get(&self, key: &TokenKey) -> Option<Token> {
        read(&self.memory).get(&key.hash).cloned()
    }

    fn remember(&self, key: &TokenKey, token: &Token) {
        write(&self.memory).insert(key.hash.clone(), token.clone());
        self.generation.fetch_add(1, AtomicOrdering::Release);
    }

    /// The cache hit's path: this thread's own copy of the token, while `memory` has not
    /// changed since it was taken. Threads share nothing they write to on a hit (no lock word,
    /// no reference count), so hits on many cores do not slow each other down.
    fn memory_get_near(&self, key: &TokenKey) -> Option<Token> {
        let generation = self.generation.load(AtomicOrdering::Acquire);
        if generation == 0 {
            // Nothing was ever cached. Not touching `NEAR` here spares a new thread whose first
            // call waits for the first fetch the registration of its destructor, which
            // allocates (and a thread's first allocation may set up a whole malloc arena).
            return None;
        }
        let near = NEAR.try_with(|near| {
            let mut near = near.try_borrow_mut().ok()?;
            if let Some(e) = near
                .iter()
                .find(|e| e.manager == self.id && e.hash == key.hash)
            {
                if e.generation == generation {
                    return Some(e.token.clone());
                }
            }
            // Taken after `generation` was read: a change after this read bumps it again.
            let own = self.memory_get(key)?.own_copy();
            near.retain(|e| !(e.manager == self.id && e.hash == key.hash));
            if near.len() >= NEAR_ENTRIES {
                near.remove(0);
            }
            near.push(Near {
                manager: self.id,
                hash: key.hash.clone(),
                generation,
                token: own.clone(),
            });
            Some(own)
        });
        match near {
            Ok(found) => found,
            // This thread is exiting: the shared map still answers.
            Err(_) => self.memory_get(key),
        }
    }

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
    pub fn get(
        &self,
        profile: &Profile,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
        self.get_or_refresh_behind(profile, key, fetch, None)
    }

    /// [`TokenManager::get`], except that a still-valid token inside its refresh margin is
    /// returned at once and `behind` is called (once per key at a time) to start its refresh
    /// elsewhere — on a thread that calls [`TokenManager::refresh`]. `behind` returns false
    /// when it could not start one; this caller then refreshes itself.
    pub fn get_or_refresh_behind(
        &self,
        profile: &Profile,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
        behind: Option<&dyn Fn() -> bool>,
    ) -> Result<Token> {
        let cached = self.memory_get_near(key);
        if let Some(t) = cached.as_ref().filter(|t| self.is_fresh(profile, t)) {
            log_at!(Level::Debug, "{}: cache hit ({})", profile.name, key.label);
            return Ok(t.clone());
        }
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
    pub fn refresh(
        &self,
        profile: &Profile,
        key: &TokenKey,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
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
    fn get_now(
        &self,
        profile: &Profile,
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
            manager: self,
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
    fn wait_for(&self, profile: &Profile, flight: &Flight) -> Result<Token> {
        let limit = self.config.lock_timeout;
        let started = Instant::now();
        let outcome = match flight.outcome.get() {
            Some(outcome) => outcome,
            None => {
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
    fn lead(
        &self,
        profile: &Profile,
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
            std::thread::sleep(pause.min(limit.saturating_sub(started.elapsed())));
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    /// One try: the memory again, the file store under its lock, Redis under its lock, and
    /// only then a fetch. `None` when another caller holds the key's lease.
    fn lead_once(
        &self,
        profile: &Profile,
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

    /// Stores a fetched token in Redis under the lock `guard` holds. If the lock was lost to
    /// another machine in the meantime (a Redis pause or failover longer than its life), both
    /// may have minted a token and only the server knows which came last: this fetches once
    /// more under the lock, ignoring whatever Redis holds, so the fleet converges on that
    /// token (a machine still serving the other one recovers on its first 401). If that fails
    /// too, the token in Redis is deleted, so that the next caller anywhere fetches anew.
    /// Returns the outcome and whether it is settled (`false`: nothing known may be trusted).
    #[cfg(feature = "redis")]
    fn store_in_redis(
        &self,
        profile: &Profile,
        key: &TokenKey,
        guard: super::redis::RedisGuard,
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
    fn record(
        &self,
        profile: &Profile,
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

    /// Two-phase, phase one: a fresh cached token, or the key's lease for this caller (see
    /// [`super::lease`]). A caller that finds another's live lease waits for its token, at
    /// most `cache.lock_timeout_ms`, then gets [`ErrorKind::InProgress`]; it never starts a
    /// second fetch.
    pub fn acquire(&self, profile: &Profile, key: &TokenKey) -> Result<Acquired> {
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
    fn take(&self, profile: &Profile, key: &TokenKey, wait: Duration) -> Result<Option<Acquired>> {
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
            profile: profile.name.clone(),
            key: key.hash.clone(),
            owner,
            expires_at_ms,
        })))
    }

    /// Two-phase, phase two: `mint` fetches the token under `lease` (sends the signed
    /// request); the token is stored and the lease released, whatever the outcome. If a fresh
    /// token is already in the cache, it is returned and nothing is sent. If another caller
    /// took the lease over after it expired: [`ErrorKind::LeaseLost`], nothing sent.
    pub fn complete(
        &self,
        profile: &Profile,
        key: &TokenKey,
        lease: &Lease,
        mint: &dyn Fn() -> Result<Token>,
    ) -> Result<Token> {
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
        self.drop_local_lease(files.as_deref(), &key.hash, owner);
        self.release_redis(profile, key, owner);
        outcome
    }

    /// Gives `lease` up without fetching: the next caller takes the key's lease at once.
    pub fn release(&self, profile: &Profile, key: &TokenKey, lease: &Lease) -> Result<()> {
        let files = self.file_store()?;
        self.release_local(files.as_deref(), &key.hash, &lease.owner);
        self.release_redis(profile, key, &lease.owner);
        log_at!(Level::Info, "{}: lease released", profile.name);
        Ok(())
    }

    /// A fresh token in the file store, unless a fetch was interrupted there (the stored token
    /// may have been revoked). The caller holds the key's lock.
    fn stored_fresh(
        &self,
        profile: &Profile,
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
    fn leased_by_other_than(&self, files: &FileStore, hash: &str, owner: &str) -> bool {
        files
            .read_lease(hash)
            .is_some_and(|(o, until)| o != owner && until > now_ms())
    }

    /// Whether a caller holds a live lease on the key in the file store; the caller holds the
    /// key's lock.
    fn leased_by_other(&self, files: &FileStore, hash: &str) -> bool {
        files
            .read_lease(hash)
            .is_some_and(|(_, until)| until > now_ms())
    }

    /// Takes or renews the key's lease for `owner` until `until`, unless another owner holds
    /// a live one (then `false`). With a file store the caller holds the key's lock; in memory
    /// the check and the write are under one mutex.
    fn claim_local(
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
    fn drop_local_lease(&self, files: Option<&FileStore>, hash: &str, owner: &str) {
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
    fn release_local(&self, files: Option<&FileStore>, hash: &str, owner: &str) {
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
    fn release_redis(&self, _profile: &Profile, _key: &TokenKey, _owner: &str) {
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

    /// The newest token known locally that has not expired (margin or not).
    fn best_valid(&self, files: Option<&FileStore>, key: &TokenKey) -> Option<Token> {
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
            let mut memory = write(&self.memory);
            if memory.get(&key.hash).is_some_and(|t| t.value() == value) {
                memory.remove(&key.hash);
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

/// The longest pause between two tries of a caller waiting for another's lease.
const MAX_POLL: Duration = Duration::from_millis(100);

/// What [`TokenManager::acquire`] found.
#[derive(Debug)]
pub enum Acquired {
    /// A fresh token from the cache.
    Token(Token),
    /// The key's lease, for this caller to fetch the token under.
    Lease(Lease),
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn in_progress(profile: &Profile, waited: Duration) -> Error {
    Error::new(
        ErrorKind::InProgress,
        format!(
            "{}: another caller is fetching this token (it holds the installation's lease, maybe waiting for a signature); waited {} ms (cache.lock_timeout_ms). Its token will be in the cache when it completes: call again",
            profile.name,
            waited.as_millis()
        ),
    )
}

fn lease_lost(profile: &Profile) -> Error {
    Error::new(
        ErrorKind::LeaseLost,
        format!(
            "{}: this pending operation's lease expired (cache.lease_ms) and another caller took it over; nothing was sent. Acquire again",
            profile.name
        ),
    )
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
