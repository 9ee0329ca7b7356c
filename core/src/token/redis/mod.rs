//! The Redis store: the same single-flight semantics across machines.
//!
//! - The lock is `<prefix>lock:<hash>`, set to a random owner id with a time to live
//!   (`redis.lock_ttl_ms`) only if it is free (one script). Its holder renews it every third of
//!   that while it fetches (a thread that lives as long as the lock), so it cannot expire under
//!   a live fetch however long the fetch takes; if the holder dies, it expires by itself.
//! - Taking a free lock moves the key's fencing number (`<prefix>fence:<hash>`) on. The token is
//!   stored with `PX` = its remaining lifetime, and only if nobody took the lock since the writer
//!   did (one script): a holder that lost its lock cannot overwrite the token of the machine that
//!   took it next. Both may have minted a token, and which one the server kept is unknown here:
//!   the token manager fetches once more under the lock (see `TokenManager`'s fetch).
//! - Releasing the lock (by its owner only) pushes onto `<prefix>wake:<hash>`; waiters block on
//!   that list (`BLPOP`), bounded by their deadline and by the lock's remaining lifetime (so a
//!   dead holder's lock is noticed when it expires), and a woken waiter that finds the token
//!   passes the wake-up on to the next one.
//! - Invalidation deletes the stored token only if its `value` is the one that failed (the JSON
//!   decoded in Lua with `cjson`).
//!
//! Connections (see [`conn`]) are kept and reused: one per process in the usual case, a second
//! only while another thread of the same process is in the middle of a command.

mod conn;
mod guard;
mod report;
mod scripts;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::Value;

use self::conn::{Conn, Credentials};
pub use self::guard::RedisGuard;
use self::scripts::*;
use super::key::TokenKey;
use super::store::{decode, encode};
use super::{now_ms, RedisReport, Token};
use crate::config::{RedisConfig, RedisServer};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{log_at, Level};

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 2;

/// The longest a waiter blocks before it looks again, whatever else it knows: the fallback if
/// a wake-up is lost.
const MAX_BLOCK: Duration = Duration::from_secs(2);

/// The first pause before popping again after a `BLPOP` that came back while the lock was still
/// held (see `lock_and_read`); it doubles up to [`MAX_EARLY_POP_PAUSE`].
const EARLY_POP_PAUSE: Duration = Duration::from_millis(5);
const MAX_EARLY_POP_PAUSE: Duration = Duration::from_millis(200);

/// What a store checks before it writes.
enum Check<'a> {
    /// The lock (a lease) still holds this owner id.
    Owner(&'a str),
    /// Nobody took the lock since the holder with this fencing number did.
    Fence(i64),
}

/// The outcome of one try at a lease in Redis.
pub enum LeaseTry {
    /// A fresh token is in Redis; no lease is held.
    Token(Token),
    /// The lease is the caller's.
    Taken,
    /// Another owner holds the lease until this time (Unix ms).
    Busy(i64),
    /// Renewing: another owner took the lease over.
    Lost,
}

struct Shared {
    config: RedisConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    idle: Mutex<Vec<Conn>>,
    /// The master a sentinel named last.
    master: Mutex<Option<(String, u16)>>,
}

/// The Redis store: tokens and the fetch lock shared across machines.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Keys {
    lock: String,
    /// The fencing number: moved on each time the lock is taken while free.
    fence: String,
    token: String,
    wake: String,
    /// The label a record under `token` must carry (see [`crate::token::store::decode`]).
    label: String,
}

fn script(source: &str, keys: &[&str], args: &[&[u8]]) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(source).arg(keys.len());
    for k in keys {
        cmd.arg(*k);
    }
    for a in args {
        cmd.arg(*a);
    }
    cmd
}

fn int(value: &Value, what: &str) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(*n),
        _ => Err(Error::new(
            ErrorKind::Store,
            format!("Redis: unexpected reply to {what}"),
        )),
    }
}

fn ms(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

impl RedisStore {
    /// A store with these settings; it connects only when used. Loads the TLS roots for a
    /// `rediss://` store (an unreadable `tls.extra_roots_pem` is a config error).
    pub fn new(config: RedisConfig) -> Result<RedisStore> {
        let tls = if config.tls {
            Some(conn::tls_config(&config)?)
        } else {
            None
        };
        Ok(RedisStore {
            shared: Arc::new(Shared {
                config,
                tls,
                idle: Mutex::new(Vec::new()),
                master: Mutex::new(None),
            }),
        })
    }

    fn config(&self) -> &RedisConfig {
        &self.shared.config
    }

    fn keys(&self, key: &TokenKey) -> Keys {
        let prefix = &self.config().key_prefix;
        Keys {
            lock: format!("{prefix}lock:{}", key.hash),
            fence: format!("{prefix}fence:{}", key.hash),
            token: format!("{prefix}token:{}", key.hash),
            wake: format!("{prefix}wake:{}", key.hash),
            label: key.label.clone(),
        }
    }

    /// The time one command may take: `redis.command_timeout_ms`, never past `deadline`.
    fn op_time(&self, deadline: Instant) -> Duration {
        self.config()
            .command_timeout
            .min(deadline.saturating_duration_since(Instant::now()))
    }

    /// A deadline of one command from now.
    fn op_deadline(&self) -> Instant {
        Instant::now() + self.config().command_timeout
    }

    fn credentials(&self) -> Credentials<'_> {
        Credentials {
            username: self.config().username.as_deref(),
            password: self.config().password.as_ref(),
        }
    }

    fn open(&self, host: &str, port: u16, deadline: Instant) -> Result<Conn> {
        let c = self.config();
        Conn::open(
            host,
            port,
            self.shared.tls.as_ref(),
            &self.credentials(),
            c.db,
            c.connect_timeout,
            self.op_time(deadline),
        )
    }

    /// A new connection to the server (with Sentinel: to the master the sentinels name).
    fn connect(&self, deadline: Instant) -> Result<Conn> {
        let RedisServer::Sentinel {
            sentinels,
            master_name,
            username,
            password,
        } = &self.config().server
        else {
            let RedisServer::Direct { host, port } = &self.config().server else {
                unreachable!("a Redis server is direct or through Sentinel")
            };
            return self.open(host, *port, deadline);
        };
        let known = self.shared.master.lock().ok().and_then(|m| m.clone());
        if let Some((host, port)) = known {
            if let Ok(conn) = self.open(&host, port, deadline) {
                return Ok(conn);
            }
        }
        let mut failures = Vec::new();
        for (host, port) in sentinels {
            let asked = Conn::open(
                host,
                *port,
                self.shared.tls.as_ref(),
                &Credentials {
                    username: username.as_deref(),
                    password: password.as_ref(),
                },
                0,
                self.config().connect_timeout,
                self.op_time(deadline),
            )
            .and_then(|mut sentinel| {
                let reply = sentinel.call(
                    redis::cmd("SENTINEL")
                        .arg("get-master-addr-by-name")
                        .arg(master_name),
                    self.op_time(deadline),
                )?;
                match reply {
                    Value::Array(items) => match items.as_slice() {
                        [Value::BulkString(h), Value::BulkString(p)] => {
                            let host = String::from_utf8_lossy(h).into_owned();
                            let port = String::from_utf8_lossy(p).parse::<u16>().ok();
                            port.map(|p| (host, p))
                                .ok_or_else(|| Error::new(ErrorKind::Store, "a bad master address"))
                        }
                        _ => Err(Error::new(ErrorKind::Store, "a bad master address")),
                    },
                    _ => Err(Error::new(
                        ErrorKind::Store,
                        format!("it knows no master named {master_name:?}"),
                    )),
                }
            });
            match asked {
                Ok((mhost, mport)) => match self.open(&mhost, mport, deadline) {
                    Ok(conn) => {
                        if let Ok(mut m) = self.shared.master.lock() {
                            *m = Some((mhost, mport));
                        }
                        return Ok(conn);
                    }
                    Err(e) => failures.push(e.message),
                },
                Err(e) => failures.push(format!("sentinel {host}:{port}: {}", e.message)),
            }
        }
        Err(Error::new(
            ErrorKind::Store,
            format!(
                "Redis Sentinel: no sentinel named a reachable master {master_name:?}: {}",
                failures.join("; ")
            ),
        ))
    }

    fn checkout(&self, deadline: Instant) -> Result<(Conn, bool)> {
        let pooled = self.shared.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(conn) => Ok((conn, true)),
            None => Ok((self.connect(deadline)?, false)),
        }
    }

    fn checkin(&self, conn: Conn) {
        if conn.broken {
            // With Sentinel, the master may have changed: ask again next time.
            if let Ok(mut m) = self.shared.master.lock() {
                *m = None;
            }
            return;
        }
        if let Ok(mut idle) = self.shared.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    /// Runs `f` on a connection (a kept one if there is one). A kept connection that breaks
    /// (the server closed it, or a failover made it a replica) is replaced once; `f` must be
    /// safe to run twice (every script here is).
    fn run<T>(&self, deadline: Instant, f: impl Fn(&mut Conn) -> Result<T>) -> Result<T> {
        let (mut conn, reused) = self.checkout(deadline)?;
        let result = f(&mut conn);
        let retry = result.is_err() && conn.broken && reused;
        self.checkin(conn);
        if !retry {
            return result;
        }
        let mut conn = self.connect(deadline)?;
        let result = f(&mut conn);
        self.checkin(conn);
        result
    }

    fn read(&self, conn: &mut Conn, keys: &Keys, deadline: Instant) -> Result<Option<Token>> {
        match conn.call(redis::cmd("GET").arg(&keys.token), self.op_time(deadline))? {
            Value::BulkString(bytes) => {
                Ok(decode(&zeroize::Zeroizing::new(bytes), Some(&keys.label)))
            }
            _ => Ok(None),
        }
    }

    /// The stored token if `is_fresh` says it is.
    fn read_fresh(
        &self,
        conn: &mut Conn,
        keys: &Keys,
        deadline: Instant,
        is_fresh: &dyn Fn(&Token) -> bool,
    ) -> Result<Option<Token>> {
        Ok(self.read(conn, keys, deadline)?.filter(|t| is_fresh(t)))
    }

    /// Takes the lock for `owner` (its fencing number, negated), or the holder's remaining
    /// milliseconds.
    fn try_lock(
        &self,
        conn: &mut Conn,
        keys: &Keys,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<i64> {
        let reply = conn.call(
            &script(
                TRY_LOCK,
                &[&keys.lock, &keys.fence],
                &[
                    owner.as_bytes(),
                    ms(ttl).as_bytes(),
                    ms(FENCE_TTL).as_bytes(),
                ],
            ),
            self.op_time(deadline),
        )?;
        int(&reply, "the lock script")
    }

    fn release_on(&self, conn: &mut Conn, keys: &Keys, owner: &str) -> Result<bool> {
        let reply = conn.call(
            &script(
                RELEASE,
                &[&keys.lock, &keys.wake],
                &[owner.as_bytes(), ms(self.config().lock_ttl).as_bytes()],
            ),
            self.config().command_timeout,
        )?;
        Ok(int(&reply, "the release script")? == 1)
    }

    /// Waits for either a fresh token in Redis (returned, with no lock held) or the lock (with
    /// no fresh token: the caller fetches, stores through the guard, and drops it).
    ///
    /// Gives up after `wait` with a `Timeout` error ([`Error::lock_timeout`]). `wait` is the
    /// caller's patience, not the lock's lifetime: a live holder keeps renewing the lock.
    pub fn lock_and_read(
        &self,
        key: &TokenKey,
        is_fresh: &dyn Fn(&Token) -> bool,
        wait: Duration,
    ) -> Result<(RedisGuard, Option<Token>)> {
        let keys = self.keys(key);
        let owner = crate::random::uuid().simple().to_string();
        let started = Instant::now();
        let deadline = started + wait;
        let lock_ttl = self.config().lock_ttl;
        enum Step {
            Token(Token),
            Locked(i64, Option<Token>),
            Busy(i64),
        }
        let mut woken = false;
        // Pops that came back before the lock was let go: a broken server (or a wake-up stolen
        // by another waiter) answers `BLPOP` at once. Each pause doubles, so such a server
        // costs a few dozen commands per second instead of a spin.
        let mut early_pops = 0u32;
        loop {
            let step = self.run(deadline.max(self.op_deadline()), |conn| {
                let dl = deadline.max(self.op_deadline());
                if let Some(t) = self.read_fresh(conn, &keys, dl, is_fresh)? {
                    return Ok(Step::Token(t));
                }
                match self.try_lock(conn, &keys, &owner, lock_ttl, dl)? {
                    // Re-read: the previous holder may have stored a token just before it let go.
                    fence @ ..=-1 => Ok(Step::Locked(
                        -fence,
                        self.read_fresh(conn, &keys, dl, is_fresh)?,
                    )),
                    left => Ok(Step::Busy(left)),
                }
            })?;
            match step {
                Step::Token(t) => {
                    if woken {
                        // Pass the wake-up on to the next waiter.
                        let _ = self.run(self.op_deadline(), |conn| {
                            conn.call(
                                &script(WAKE, &[&keys.wake], &[ms(lock_ttl).as_bytes()]),
                                self.config().command_timeout,
                            )
                        });
                    }
                    return Ok((RedisGuard::idle(self, keys, &key.label, owner), Some(t)));
                }
                Step::Locked(fence, fresh) => {
                    let guard = RedisGuard::held(self, keys, &key.label, owner, fence);
                    return Ok((guard, fresh));
                }
                Step::Busy(holder_left_ms) => {
                    let waited = started.elapsed();
                    if waited >= wait {
                        return Err(Error::lock_timeout(
                            "another machine's fetch (Redis lock)",
                            waited,
                        ));
                    }
                    if early_pops > 0 {
                        let pause = EARLY_POP_PAUSE
                            .saturating_mul(1 << early_pops.min(8))
                            .min(MAX_EARLY_POP_PAUSE)
                            .min(wait - waited);
                        std::thread::sleep(pause);
                    }
                    // Block until the holder lets go, its lock would expire, or the wait ends.
                    let block = (wait.saturating_sub(started.elapsed()))
                        .min(Duration::from_millis(holder_left_ms.max(1) as u64 + 20))
                        .min(MAX_BLOCK)
                        .max(Duration::from_millis(10));
                    let popping = Instant::now();
                    let popped = self.run(self.op_deadline() + block, |conn| {
                        conn.call(
                            redis::cmd("BLPOP")
                                .arg(&keys.wake)
                                .arg(format!("{:.3}", block.as_secs_f64())),
                            block + self.config().command_timeout,
                        )
                    })?;
                    woken = !matches!(popped, Value::Nil);
                    early_pops = if woken || popping.elapsed() < block / 2 {
                        early_pops.saturating_add(1)
                    } else {
                        0
                    };
                }
            }
        }
    }

    /// Stores `token` if `check` still holds (one script): `true` if it stored. `false` means
    /// the lock (or lease) was lost to another holder since it was taken: that holder may have
    /// minted a token too, and only the server knows which of the two is live — nothing is
    /// stored, and the caller decides (see `TokenManager`'s fetch).
    fn store_checked(
        &self,
        keys: &Keys,
        label: &str,
        check: Check<'_>,
        token: &Token,
    ) -> Result<bool> {
        let ttl = token.expires_at_ms() - now_ms();
        if ttl <= 0 {
            return Ok(true);
        }
        let value = encode(label, token);
        let deadline = self.op_deadline();
        let fence;
        let (source, keys_used, proof): (&str, [&str; 2], &[u8]) = match check {
            Check::Owner(owner) => (STORE_IF_OWNER, [&keys.lock, &keys.token], owner.as_bytes()),
            Check::Fence(f) => {
                fence = f.to_string();
                (STORE_IF_FENCE, [&keys.fence, &keys.token], fence.as_bytes())
            }
        };
        let stored = self.run(deadline, |conn| {
            let reply = conn.call(
                &script(
                    source,
                    &keys_used,
                    &[proof, &value, ttl.to_string().as_bytes()],
                ),
                self.op_time(deadline),
            )?;
            Ok(int(&reply, "the store script")? == 1)
        })?;
        if !stored {
            log_at!(
                Level::Warn,
                "{label}: the Redis lock was lost during the fetch and another machine took it: it may have minted a token too, and the server keeps only the later one; {} was not stored",
                token.masked()
            );
        }
        Ok(stored)
    }

    /// The stored token of `key`, whatever its age, without locking anything (for a status).
    pub fn peek(&self, key: &TokenKey, deadline: Instant) -> Result<Option<Token>> {
        let keys = self.keys(key);
        self.run(deadline, |conn| self.read(conn, &keys, deadline))
    }

    /// Deletes the stored token, whatever it is: after a lost lock nobody can tell whether it
    /// is still live, so the next caller fetches anew.
    pub fn forget(&self, key: &TokenKey) -> Result<()> {
        let keys = self.keys(key);
        let deadline = self.op_deadline();
        self.run(deadline, |conn| {
            conn.call(redis::cmd("DEL").arg(&keys.token), self.op_time(deadline))
                .map(|_| ())
        })
    }

    /// One try at the lease of `key` for `owner`, lasting `ttl`: a fresh token in Redis (no
    /// lease taken), the lease, or busy until the returned time (Unix ms) — never a wait.
    pub fn try_lease(
        &self,
        key: &TokenKey,
        owner: &str,
        ttl: Duration,
        is_fresh: &dyn Fn(&Token) -> bool,
    ) -> Result<LeaseTry> {
        let keys = self.keys(key);
        let deadline = self.op_deadline();
        self.run(deadline, |conn| {
            if let Some(t) = self.read_fresh(conn, &keys, deadline, is_fresh)? {
                return Ok(LeaseTry::Token(t));
            }
            match self.try_lock(conn, &keys, owner, ttl, deadline)? {
                ..=-1 => {
                    // The previous holder may have stored a token just before it let go.
                    if let Some(t) = self.read_fresh(conn, &keys, deadline, is_fresh)? {
                        self.release_on(conn, &keys, owner)?;
                        return Ok(LeaseTry::Token(t));
                    }
                    Ok(LeaseTry::Taken)
                }
                left => Ok(LeaseTry::Busy(now_ms() + left)),
            }
        })
    }

    /// Extends `owner`'s lease of `key` to `ttl` from now before a completion sends. If the
    /// lease expired and nobody took it, it is taken again — unless a fresh token is there
    /// (returned: the caller uses it and sends nothing). `Lost` when another owner holds it.
    pub fn renew_lease(
        &self,
        key: &TokenKey,
        owner: &str,
        ttl: Duration,
        is_fresh: &dyn Fn(&Token) -> bool,
    ) -> Result<LeaseTry> {
        let keys = self.keys(key);
        if self.renew(&keys.lock, owner, ttl)? {
            return Ok(LeaseTry::Taken);
        }
        match self.try_lease(key, owner, ttl, is_fresh)? {
            LeaseTry::Busy(_) => Ok(LeaseTry::Lost),
            other => Ok(other),
        }
    }

    fn renew(&self, lock: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let deadline = self.op_deadline();
        self.run(deadline, |conn| {
            let reply = conn.call(
                &script(
                    RENEW_IF_OWNER,
                    &[lock],
                    &[owner.as_bytes(), ms(ttl).as_bytes()],
                ),
                self.op_time(deadline),
            )?;
            Ok(int(&reply, "the renew script")? == 1)
        })
    }

    /// The key that seals exported pending operations (see [`super::SealKey`]), shared by
    /// every machine of the fleet: `<prefix>pending-key`, set once (`SET NX`) to 32 random
    /// bytes and read back, so machines racing to create it all use the one that won. A value
    /// of another length is refused.
    pub fn seal_key(&self) -> Result<super::SealKey> {
        let name = format!("{}pending-key", self.config().key_prefix);
        let candidate = super::SealKey::random()?;
        let deadline = self.op_deadline();
        let stored = self.run(deadline, |conn| {
            conn.call(
                redis::cmd("SET")
                    .arg(&name)
                    .arg(&candidate.bytes()[..])
                    .arg("NX"),
                self.op_time(deadline),
            )?;
            conn.call(redis::cmd("GET").arg(&name), self.op_time(deadline))
        })?;
        match stored {
            Value::BulkString(bytes) => super::SealKey::from_bytes(&zeroize::Zeroizing::new(bytes)),
            _ => None,
        }
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Store,
                format!(
                    "Redis: {name} is not a key of {} bytes; delete it (pending operations exported before cannot be imported then)",
                    super::SEAL_KEY_LEN
                ),
            )
        })
    }

    /// Stores the keeper's heartbeat (a small JSON document), living `ttl`.
    pub fn put_heartbeat(&self, bytes: &[u8], ttl: Duration) -> Result<()> {
        let name = format!("{}keeper-heartbeat", self.config().key_prefix);
        let deadline = self.op_deadline();
        self.run(deadline, |conn| {
            conn.call(
                redis::cmd("SET")
                    .arg(&name)
                    .arg(bytes)
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64),
                self.op_time(deadline),
            )
            .map(|_| ())
        })
    }

    /// The keeper's heartbeat, if one is live (at most 64 KiB).
    pub fn heartbeat(&self) -> Result<Option<Vec<u8>>> {
        let name = format!("{}keeper-heartbeat", self.config().key_prefix);
        let deadline = self.op_deadline();
        Ok(
            match self.run(deadline, |conn| {
                conn.call(redis::cmd("GET").arg(&name), self.op_time(deadline))
            })? {
                Value::BulkString(bytes) if bytes.len() <= 64 * 1024 => Some(bytes),
                _ => None,
            },
        )
    }

    /// The lock's time to live (`redis.lock_ttl_ms`).
    pub fn lock_ttl(&self) -> Duration {
        self.config().lock_ttl
    }

    /// Keeps `owner`'s lease of `key` renewed (by `redis.lock_ttl_ms`) until the guard is
    /// dropped, which also releases it.
    pub fn keep_renewed(&self, key: &TokenKey, owner: &str) -> RedisGuard {
        RedisGuard::held(self, self.keys(key), &key.label, owner.to_owned(), 0)
    }

    /// Releases `owner`'s lease of `key` (nothing if another owner holds it).
    pub fn release_lease(&self, key: &TokenKey, owner: &str) -> Result<()> {
        let keys = self.keys(key);
        self.run(self.op_deadline(), |conn| {
            self.release_on(conn, &keys, owner)
        })
        .map(|_| ())
    }

    /// Stores a token fetched under `owner`'s lease of `key`, while the lease still holds:
    /// `true` if it stored. `false` when the lease was lost to another caller, who may have
    /// minted a token since: then the stored token is deleted too (nobody can tell which of
    /// the two is live), so the next caller anywhere fetches anew.
    pub fn store_leased(&self, key: &TokenKey, owner: &str, token: &Token) -> Result<bool> {
        let stored = self.store_checked(&self.keys(key), &key.label, Check::Owner(owner), token)?;
        if !stored {
            self.forget(key)?;
        }
        Ok(stored)
    }

    /// Compare-and-invalidate in Redis: deletes the stored token only if its value is `value`.
    pub fn remove_if(&self, key: &TokenKey, value: &str) -> Result<bool> {
        let keys = self.keys(key);
        let deadline = self.op_deadline();
        self.run(deadline, |conn| {
            let reply = conn.call(
                &script(INVALIDATE, &[&keys.token], &[value.as_bytes()]),
                self.op_time(deadline),
            )?;
            Ok(int(&reply, "the invalidate script")? > 0)
        })
    }
}
