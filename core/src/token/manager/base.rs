//! The token cache's state: the memory cache with each thread's near copies, the stores, and
//! what every part of the manager shares.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::flight::Flight;
use super::sync::{lock, read, write};

#[cfg(feature = "redis")]
use crate::config::RedisFallback;
use crate::config::{CacheConfig, RedisConfig};
use crate::error::{Error, ErrorKind, Result};
#[cfg(feature = "redis")]
use crate::log::{log_at, Level};
use crate::token::key::{Policy, TokenKey};
use crate::token::lease::Lease;
#[cfg(feature = "redis")]
use crate::token::redis::RedisStore;
use crate::token::store::FileStore;
use crate::token::{now_ms, Token};

/// Ten minutes before expiry at most; never more than a fifth of the token's lifetime, so a
/// 10-hour token refreshes 10 minutes early, a 30-minute one 6 minutes early.
pub(super) const MAX_AUTO_MARGIN_MS: i64 = 10 * 60 * 1000;

/// The token cache of one client: memory, plus the file store and Redis when configured.
pub struct TokenManager {
    /// Tokens by key hash. Read by every cache hit (a shared lock, held for one clone of a
    /// reference-counted token); written after a fetch.
    pub(super) memory: RwLock<FxHashMap<u128, Token>>,
    /// Bumped after every change of `memory`: a thread's own copy of a token (see
    /// [`TokenManager::memory_get_near`]) is good while this has not moved.
    pub(super) generation: AtomicU64,
    /// How many times a caller waited for a token fetched elsewhere (see
    /// [`TokenManager::waits`]).
    pub(super) waits: AtomicU64,
    /// Tells this manager's entries in a thread's copies from another client's.
    pub(super) id: u64,
    /// Keys being refreshed behind their callers' backs (see [`TokenManager::get`]).
    pub(super) refreshing: Mutex<std::collections::HashSet<String>>,
    /// Fetches under way in this process, by key: the first thread leads, the others wait for
    /// its outcome.
    pub(super) flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// The file store, opened on first use and retried on every call until it opens.
    pub(super) files: Mutex<Option<Arc<FileStore>>>,
    /// Leases by key when there is no file store (a memory-only cache): owner and expiry.
    pub(super) leases: Mutex<HashMap<String, (String, i64)>>,
    #[cfg(feature = "redis")]
    pub(super) redis: Option<(RedisStore, RedisFallback)>,
    /// The key sealing exported pending operations, once read (see [`TokenManager::seal_key`]).
    pub(super) seal: Mutex<Option<crate::token::SealKey>>,
    pub(super) config: CacheConfig,
}

/// Numbers the managers of this process (see `TokenManager::id`).
pub(super) static NEXT_MANAGER_ID: AtomicU64 = AtomicU64::new(1);

/// How many sets of two a thread's copies of tokens are kept in: up to 256 tokens, each found
/// at the set its key's id picks, the more recently used of the two first.
pub(super) const NEAR_SETS: usize = 128;
const _: () = assert!(NEAR_SETS.is_power_of_two());

/// A thread's copy of a cached token.
pub(super) struct Near {
    manager: u64,
    id: u128,
    generation: u64,
    /// This thread's own copy of the token, made on the key's second use in a row of
    /// `generation`s: a thread that goes through many keys once each copies none of them.
    token: Option<Token>,
}

thread_local! {
    /// This thread's copies of the tokens it was last given (see `memory_get_near`): empty, or
    /// `2 * NEAR_SETS` places.
    static NEAR: std::cell::RefCell<Vec<Option<Near>>> = const { std::cell::RefCell::new(Vec::new()) };

    /// Set while this thread runs a fetch: a signer that calls back into the cache would wait
    /// for itself.
    static FETCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as fetching until dropped.
pub(super) struct FetchingMark;

impl FetchingMark {
    pub(super) fn enter() -> Result<FetchingMark> {
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
            waits: AtomicU64::new(0),
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
    pub fn seal_key(&self) -> Result<crate::token::SealKey> {
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
    pub(super) fn load_seal_key(&self) -> Result<(crate::token::SealKey, bool)> {
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
                        None => crate::token::SealKey::random()?,
                    };
                    return Ok((key, false));
                }
                Err(e) => return Err(e),
            }
        }
        let key = match self.file_store()? {
            Some(files) => files.seal_key()?,
            None => crate::token::SealKey::random()?,
        };
        Ok((key, true))
    }

    /// The Redis store's state (see [`crate::token::RedisReport`]); `None` without a Redis store.
    pub fn redis_report(&self) -> Option<Result<crate::token::RedisReport>> {
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

    /// The token cached for `key` — in memory, the file store or Redis, whichever has it first
    /// — whatever its age, without fetching or locking anything (for a status). A store that
    /// cannot be read counts as empty.
    pub fn peek(&self, key: &TokenKey) -> Option<Token> {
        if let Some(token) = self.memory_get(key) {
            return Some(token);
        }
        if let Some(token) = self
            .file_store()
            .ok()
            .flatten()
            .and_then(|f| f.read(&key.hash, &key.label))
        {
            return Some(token);
        }
        #[cfg(feature = "redis")]
        if let Some((redis, _)) = &self.redis {
            let deadline =
                std::time::Instant::now() + self.config.lock_timeout.min(Duration::from_secs(5));
            return redis.peek(key, deadline).ok().flatten();
        }
        None
    }

    pub(super) fn margin_ms(&self, profile: &Policy<'_>, token: &Token) -> i64 {
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
    pub fn fresh_until_ms<'p>(&self, profile: impl Into<Policy<'p>>, token: &Token) -> i64 {
        let profile = &profile.into();
        token
            .expires_at_ms()
            .saturating_sub(self.margin_ms(profile, token))
    }

    pub(super) fn is_fresh(&self, profile: &Policy<'_>, token: &Token) -> bool {
        token.expires_at_ms().saturating_sub(now_ms()) > self.margin_ms(profile, token)
    }

    /// How many times a caller of this cache waited for a token being fetched elsewhere: by
    /// another thread, by another process on this machine (the file store's lock, a two-phase
    /// caller's lease), or — a consumer — by the keeper. Each wait counts once however long.
    pub fn waits(&self) -> u64 {
        self.waits.load(AtomicOrdering::Relaxed)
    }

    pub(super) fn count_wait(&self) {
        self.waits.fetch_add(1, AtomicOrdering::Relaxed);
    }

    pub(super) fn memory_get(&self, key: &TokenKey) -> Option<Token> {
        read(&self.memory).get(&key.id).cloned()
    }

    pub(super) fn remember(&self, key: &TokenKey, token: &Token) {
        write(&self.memory).insert(key.id, token.clone());
        self.generation.fetch_add(1, AtomicOrdering::Release);
    }

    /// The cache hit's path: this thread's own copy of the token, while `memory` has not
    /// changed since it was taken. Threads share nothing they write to on a hit (no lock word,
    /// no reference count), so hits on many cores do not slow each other down. A thread keeps
    /// up to 256 tokens, two per set of the key's id; one going through more keys than that
    /// pays one shared-map lookup per get and copies nothing.
    pub(super) fn memory_get_near(&self, key: &TokenKey) -> Option<Token> {
        let generation = self.generation.load(AtomicOrdering::Acquire);
        if generation == 0 {
            // Nothing was ever cached. Not touching `NEAR` here spares a new thread whose first
            // call waits for the first fetch the registration of its destructor, which
            // allocates (and a thread's first allocation may set up a whole malloc arena).
            return None;
        }
        let near = NEAR.try_with(|near| {
            let mut near = near.try_borrow_mut().ok()?;
            if near.is_empty() {
                near.resize_with(2 * NEAR_SETS, || None);
            }
            let set = (key.id as usize & (NEAR_SETS - 1)) * 2;
            // The hit: the set's first way, this thread's own copy, still current.
            if let Some(e) = &near[set] {
                if e.id == key.id && e.manager == self.id && e.generation == generation {
                    if let Some(token) = &e.token {
                        return Some(token.clone());
                    }
                }
            }
            let ways = &mut near[set..set + 2];
            let mine = |e: &Option<Near>| {
                e.as_ref()
                    .is_some_and(|e| e.manager == self.id && e.id == key.id)
            };
            let found = if mine(&ways[0]) {
                Some(0)
            } else if mine(&ways[1]) {
                Some(1)
            } else {
                None
            };
            if let Some(way) = found {
                // The more recently used first.
                ways.swap(0, way);
                if let Some(e) = ways[0].as_mut().filter(|e| e.generation == generation) {
                    if let Some(token) = &e.token {
                        return Some(token.clone());
                    }
                    // Seen before: now worth a copy of its own.
                    let own = self.memory_get(key)?.own_copy();
                    e.token = Some(own.clone());
                    return Some(own);
                }
                ways[0] = None;
            } else {
                ways.swap(0, 1);
            }
            // Taken after `generation` was read: a change after this read bumps it again.
            let token = self.memory_get(key)?;
            ways[0] = Some(Near {
                manager: self.id,
                id: key.id,
                generation,
                token: None,
            });
            Some(token)
        });
        match near {
            Ok(found) => found,
            // This thread is exiting: the shared map still answers.
            Err(_) => self.memory_get(key),
        }
    }
}

/// The longest pause between two tries of a caller waiting for another's lease.
pub(super) const MAX_POLL: Duration = Duration::from_millis(100);

/// What [`TokenManager::acquire`] found.
#[derive(Debug)]
pub enum Acquired {
    /// A fresh token from the cache.
    Token(Token),
    /// The key's lease, for this caller to fetch the token under.
    Lease(Lease),
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(super) fn in_progress(profile: &Policy<'_>, waited: Duration) -> Error {
    Error::new(
        ErrorKind::InProgress,
        format!(
            "{}: another caller is fetching this token (it holds the installation's lease, maybe waiting for a signature); waited {} ms (cache.lock_timeout_ms). Its token will be in the cache when it completes: call again",
            profile.name,
            waited.as_millis()
        ),
    )
}

pub(super) fn lease_lost(profile: &Policy<'_>) -> Error {
    Error::new(
        ErrorKind::LeaseLost,
        format!(
            "{}: this pending operation's lease expired (cache.lease_ms) and another caller took it over; nothing was sent. Acquire again",
            profile.name
        ),
    )
}

/// Whether a failed fetch may still have made the server issue (and so revoke) a token.
pub(super) fn outcome_is_ambiguous(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::Timeout
            | ErrorKind::Connect
            | ErrorKind::Protocol
            | ErrorKind::HttpServerError
            | ErrorKind::Panic
    )
}
