//! The Redis store: the same single-flight semantics across machines.
//!
//! - The lock is `SET <prefix>lock:<hash> <owner> NX PX <ttl>`, with a random owner id; it is
//!   released only by its owner (a compare-and-delete script), and expires by itself if the
//!   owner dies.
//! - Waiters poll: each turn they re-read the token and try the lock again, so they take the
//!   token the winner stored.
//! - The token is stored with `PX` = its remaining lifetime, so Redis drops it when it expires,
//!   and only while the lock still holds the writer's owner id (one script, atomic): a holder
//!   whose lock expired mid-fetch cannot overwrite the token of the machine that took it next.
//!
//! A small RESP client over one TCP connection per operation: the library needs five commands,
//! which does not justify a client crate in the core. It does not trust the server: every
//! length, line, array and nesting level it reads is bounded (see `MAX_BULK_LEN` and the
//! constants after it), and a reply beyond a bound is a `Store` error, never an allocation,
//! a stack overflow or an endless read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::key::TokenKey;
use super::store::{decode, encode};
use super::{now_ms, Token};
use crate::config::RedisConfig;
use crate::error::{Error, ErrorKind, Result};

/// How often a waiter re-reads the token and tries the lock again.
const LOCK_POLL: Duration = Duration::from_millis(25);

/// Deletes the key only if it still holds the caller's value (owner id or token).
const COMPARE_AND_DELETE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Stores a token only while the lock still holds the caller's owner id: `KEYS[1]` the lock,
/// `KEYS[2]` the token, `ARGV[1]` the owner id, `ARGV[2]` the token, `ARGV[3]` its time to live
/// in milliseconds. Returns 1 if it stored, 0 if not.
const STORE_IF_OWNER: &str = concat!(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then ",
    "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end"
);

/// Extends the lock's time to live (`ARGV[2]` ms) if it still holds the owner id `ARGV[1]`.
/// Returns 1 if it did, 0 if not.
const RENEW_IF_OWNER: &str = concat!(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then ",
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
);

/// Deletes a stored token only if its value field is the given one.
const COMPARE_TOKEN_AND_DELETE: &str = concat!(
    "local v = redis.call('GET', KEYS[1]) ",
    "if v and string.find(v, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) else return 0 end"
);

/// The longest bulk reply accepted, in bytes. Tokens are stored as small JSON documents (a
/// SmartMarket JWE is a few kilobytes); anything larger comes from a broken or hostile server,
/// and is refused before any of it is allocated.
const MAX_BULK_LEN: usize = 1 << 20;

/// The longest reply line accepted (a simple string, an error, an integer or a length header),
/// CRLF included. The limit is on bytes read, so an endless line is cut here, not by the read
/// timeout.
const MAX_LINE_LEN: usize = 64 << 10;

/// The most items one array reply may announce. The commands used here answer with simple
/// strings, integers and bulk strings; arrays are read only to stay in step with the stream.
const MAX_ARRAY_LEN: usize = 16;

/// The deepest nesting of arrays accepted; the reader recurses once per level.
const MAX_ARRAY_DEPTH: usize = 8;

/// The most array items in one reply, all levels together, so that a reply within the length
/// and depth limits still cannot announce `16^8` items.
const MAX_REPLY_ITEMS: usize = 64;

#[derive(Debug)]
enum Reply {
    Simple(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    /// An array reply; its items are read and dropped (no command used here needs them).
    Array,
}

struct Conn {
    reader: BufReader<TcpStream>,
}

fn unavailable(config: &RedisConfig, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Store,
        format!(
            "Redis store at {}:{} unavailable: {e}",
            config.host, config.port
        ),
    )
}

impl Conn {
    fn open(config: &RedisConfig) -> Result<Conn> {
        let addr = (config.host.as_str(), config.port)
            .to_socket_addrs()
            .map_err(|e| unavailable(config, e))?
            .next()
            .ok_or_else(|| unavailable(config, "no address"))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| unavailable(config, e))?;
        let io_timeout = Some(Duration::from_secs(5));
        stream
            .set_read_timeout(io_timeout)
            .and_then(|_| stream.set_write_timeout(io_timeout))
            .map_err(|e| unavailable(config, e))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            reader: BufReader::new(stream),
        };
        if let Some(password) = &config.password {
            conn.call(config, &[b"AUTH", password.expose().as_bytes()])?;
        }
        if config.db != 0 {
            conn.call(config, &[b"SELECT", config.db.to_string().as_bytes()])?;
        }
        Ok(conn)
    }

    fn call(&mut self, config: &RedisConfig, args: &[&[u8]]) -> Result<Reply> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.reader
            .get_mut()
            .write_all(&out)
            .map_err(|e| unavailable(config, e))?;
        let mut items_left = MAX_REPLY_ITEMS;
        self.read_reply(config, 0, &mut items_left)
    }

    /// One CRLF-terminated line, without the CRLF; at most [`MAX_LINE_LEN`] bytes are read.
    fn read_line(&mut self, config: &RedisConfig) -> Result<String> {
        let mut line = Vec::new();
        (&mut self.reader)
            .take(MAX_LINE_LEN as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| unavailable(config, e))?;
        if !line.ends_with(b"\n") {
            return Err(if line.len() >= MAX_LINE_LEN {
                unavailable(
                    config,
                    format!("reply line exceeds {MAX_LINE_LEN} bytes without CRLF"),
                )
            } else {
                unavailable(config, "connection closed")
            });
        }
        if !line.ends_with(b"\r\n") {
            return Err(unavailable(config, "bad reply: a line ends without CR"));
        }
        line.truncate(line.len() - 2);
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    /// One reply; `depth` is the number of arrays around it, `items_left` what remains of the
    /// reply's [`MAX_REPLY_ITEMS`].
    fn read_reply(
        &mut self,
        config: &RedisConfig,
        depth: usize,
        items_left: &mut usize,
    ) -> Result<Reply> {
        let line = self.read_line(config)?;
        // The kind is one ASCII byte; anything else (a multibyte character too) is a bad reply.
        let (kind, rest) = match line.as_bytes().first() {
            Some(&kind) => (kind, line.get(1..).unwrap_or_default()),
            None => (0, ""),
        };
        let number = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| unavailable(config, format!("bad reply {line:?}")))
        };
        match kind {
            b'+' => Ok(Reply::Simple(rest.to_owned())),
            b'-' => Err(Error::new(ErrorKind::Store, format!("Redis error: {rest}"))),
            b':' => Ok(Reply::Int(number(rest)?)),
            b'$' => {
                let len = match number(rest)? {
                    -1 => return Ok(Reply::Bulk(None)),
                    len => usize::try_from(len)
                        .map_err(|_| unavailable(config, format!("bad reply {line:?}")))?,
                };
                if len > MAX_BULK_LEN {
                    return Err(unavailable(
                        config,
                        format!("reply bulk length {len} exceeds {MAX_BULK_LEN} bytes"),
                    ));
                }
                let mut buf = vec![0u8; len + 2];
                self.reader
                    .read_exact(&mut buf)
                    .map_err(|e| unavailable(config, e))?;
                if !buf.ends_with(b"\r\n") {
                    return Err(unavailable(
                        config,
                        "bad reply: a bulk string ends without CRLF",
                    ));
                }
                buf.truncate(len);
                Ok(Reply::Bulk(Some(buf)))
            }
            b'*' => {
                let len = match number(rest)? {
                    -1 => return Ok(Reply::Array),
                    len => usize::try_from(len)
                        .map_err(|_| unavailable(config, format!("bad reply {line:?}")))?,
                };
                if len > MAX_ARRAY_LEN {
                    return Err(unavailable(
                        config,
                        format!("reply array of {len} items exceeds {MAX_ARRAY_LEN} items"),
                    ));
                }
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(unavailable(
                        config,
                        format!("reply arrays nest deeper than {MAX_ARRAY_DEPTH} levels"),
                    ));
                }
                *items_left = items_left.checked_sub(len).ok_or_else(|| {
                    unavailable(
                        config,
                        format!("reply arrays hold more than {MAX_REPLY_ITEMS} items in all"),
                    )
                })?;
                for _ in 0..len {
                    self.read_reply(config, depth + 1, items_left)?;
                }
                Ok(Reply::Array)
            }
            _ => Err(unavailable(config, format!("bad reply {line:?}"))),
        }
    }
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

/// The Redis store: tokens and the fetch lock shared across machines.
pub struct RedisStore {
    config: RedisConfig,
}

/// The held Redis lock: released (by owner) on drop.
pub struct RedisGuard<'a> {
    store: &'a RedisStore,
    conn: Option<Conn>,
    lock_key: String,
    token_key: String,
    label: String,
    owner: String,
}

impl RedisGuard<'_> {
    /// Stores the fetched token with a TTL equal to its remaining lifetime, if this guard still
    /// holds the lock (checked and written in one atomic script). A `Store` error if the lock
    /// expired before the fetch ended: another machine may have fetched and stored since, and
    /// its token is left in place.
    pub fn store(&self, token: &Token) -> Result<()> {
        self.store.store_if_owner(
            &self.lock_key,
            &self.token_key,
            &self.label,
            &self.owner,
            token,
        )
    }
}

impl Drop for RedisGuard<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let _ = conn.call(
                &self.store.config,
                &[
                    b"EVAL",
                    COMPARE_AND_DELETE.as_bytes(),
                    b"1",
                    self.lock_key.as_bytes(),
                    self.owner.as_bytes(),
                ],
            );
        }
    }
}

impl RedisStore {
    /// A store with these settings; it connects only when used.
    pub fn new(config: RedisConfig) -> RedisStore {
        RedisStore { config }
    }

    fn keys(&self, key: &TokenKey) -> (String, String) {
        let prefix = &self.config.key_prefix;
        (
            format!("{prefix}lock:{}", key.hash),
            format!("{prefix}token:{}", key.hash),
        )
    }

    fn read(&self, conn: &mut Conn, token_key: &str) -> Result<Option<Token>> {
        match conn.call(&self.config, &[b"GET", token_key.as_bytes()])? {
            Reply::Bulk(Some(bytes)) => Ok(decode(&zeroize::Zeroizing::new(bytes))),
            _ => Ok(None),
        }
    }

    /// Waits for either a fresh token in Redis (returned, with no lock held) or the lock (with
    /// no fresh token: the caller fetches, stores through the guard, and drops it).
    ///
    /// Gives up after `wait` with a `Timeout` error ([`Error::lock_timeout`]). `wait` is the
    /// caller's patience, not the lock's lifetime (`redis.lock_ttl_ms`): a holder may keep the
    /// lock for all of its lifetime.
    pub fn lock_and_read(
        &self,
        key: &TokenKey,
        is_fresh: &dyn Fn(&Token) -> bool,
        wait: Duration,
    ) -> Result<(RedisGuard<'_>, Option<Token>)> {
        let (lock_key, token_key) = self.keys(key);
        let owner = uuid::Uuid::new_v4().to_string();
        let mut conn = Conn::open(&self.config)?;
        let started = Instant::now();
        let mut guard = RedisGuard {
            store: self,
            conn: None,
            lock_key,
            token_key,
            label: key.label.clone(),
            owner,
        };
        loop {
            if let Some(t) = self
                .read(&mut conn, &guard.token_key)?
                .filter(|t| is_fresh(t))
            {
                return Ok((guard, Some(t)));
            }
            let ttl = self.config.lock_ttl.as_millis().to_string();
            let reply = conn.call(
                &self.config,
                &[
                    b"SET",
                    guard.lock_key.as_bytes(),
                    guard.owner.as_bytes(),
                    b"NX",
                    b"PX",
                    ttl.as_bytes(),
                ],
            )?;
            if matches!(reply, Reply::Simple(ref s) if s == "OK") {
                // Re-read: the previous holder may have stored a token just before releasing.
                let fresh = self
                    .read(&mut conn, &guard.token_key)?
                    .filter(|t| is_fresh(t));
                guard.conn = Some(conn);
                return Ok((guard, fresh));
            }
            let waited = started.elapsed();
            if waited >= wait {
                return Err(Error::lock_timeout(
                    "another machine's fetch (Redis lock)",
                    waited,
                ));
            }
            std::thread::sleep(LOCK_POLL.min(wait - waited));
        }
    }

    /// Stores `token` under `token_key` with a TTL equal to its remaining lifetime, if the lock
    /// `lock_key` still holds `owner` (checked and written in one atomic script). A `Store`
    /// error if it does not: another machine may have fetched and stored since, and its token
    /// is left in place.
    fn store_if_owner(
        &self,
        lock_key: &str,
        token_key: &str,
        label: &str,
        owner: &str,
        token: &Token,
    ) -> Result<()> {
        let config = &self.config;
        let ttl = token.expires_at_ms() - now_ms();
        if ttl <= 0 {
            return Ok(());
        }
        let mut conn = Conn::open(config)?;
        let value = encode(label, token);
        let reply = conn.call(
            config,
            &[
                b"EVAL",
                STORE_IF_OWNER.as_bytes(),
                b"2",
                lock_key.as_bytes(),
                token_key.as_bytes(),
                owner.as_bytes(),
                &value,
                ttl.to_string().as_bytes(),
            ],
        )?;
        match reply {
            Reply::Int(1) => Ok(()),
            Reply::Int(0) => Err(Error::new(
                ErrorKind::Store,
                "the Redis lock expired before the fetch ended (redis.lock_ttl_ms, or \
                 cache.lease_ms for a two-phase fetch): another machine may have fetched, so \
                 the token was not stored in Redis",
            )),
            _ => Err(unavailable(
                config,
                "bad reply: the store script answered neither 1 nor 0",
            )),
        }
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
        let (lock_key, token_key) = self.keys(key);
        let mut conn = Conn::open(&self.config)?;
        if let Some(t) = self.read(&mut conn, &token_key)?.filter(|t| is_fresh(t)) {
            return Ok(LeaseTry::Token(t));
        }
        let ms = ttl.as_millis().max(1).to_string();
        let reply = conn.call(
            &self.config,
            &[
                b"SET",
                lock_key.as_bytes(),
                owner.as_bytes(),
                b"NX",
                b"PX",
                ms.as_bytes(),
            ],
        )?;
        if matches!(reply, Reply::Simple(ref s) if s == "OK") {
            // The previous holder may have stored a token just before releasing.
            if let Some(t) = self.read(&mut conn, &token_key)?.filter(|t| is_fresh(t)) {
                self.release_on(&mut conn, &lock_key, owner);
                return Ok(LeaseTry::Token(t));
            }
            return Ok(LeaseTry::Taken);
        }
        let left = match conn.call(&self.config, &[b"PTTL", lock_key.as_bytes()])? {
            Reply::Int(ms) if ms > 0 => ms,
            _ => 0,
        };
        Ok(LeaseTry::Busy(now_ms() + left))
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
        let (lock_key, _) = self.keys(key);
        let mut conn = Conn::open(&self.config)?;
        let ms = ttl.as_millis().max(1).to_string();
        let reply = conn.call(
            &self.config,
            &[
                b"EVAL",
                RENEW_IF_OWNER.as_bytes(),
                b"1",
                lock_key.as_bytes(),
                owner.as_bytes(),
                ms.as_bytes(),
            ],
        )?;
        if matches!(reply, Reply::Int(1)) {
            return Ok(LeaseTry::Taken);
        }
        match self.try_lease(key, owner, ttl, is_fresh)? {
            LeaseTry::Busy(_) => Ok(LeaseTry::Lost),
            other => Ok(other),
        }
    }

    /// Releases `owner`'s lease of `key` (nothing if another owner holds it).
    pub fn release_lease(&self, key: &TokenKey, owner: &str) -> Result<()> {
        let (lock_key, _) = self.keys(key);
        let mut conn = Conn::open(&self.config)?;
        self.release_on(&mut conn, &lock_key, owner);
        Ok(())
    }

    /// Stores a token fetched under `owner`'s lease of `key`, while the lease still holds.
    pub fn store_leased(&self, key: &TokenKey, owner: &str, token: &Token) -> Result<()> {
        let (lock_key, token_key) = self.keys(key);
        self.store_if_owner(&lock_key, &token_key, &key.label, owner, token)
    }

    fn release_on(&self, conn: &mut Conn, lock_key: &str, owner: &str) {
        let _ = conn.call(
            &self.config,
            &[
                b"EVAL",
                COMPARE_AND_DELETE.as_bytes(),
                b"1",
                lock_key.as_bytes(),
                owner.as_bytes(),
            ],
        );
    }

    /// Compare-and-invalidate in Redis.
    pub fn remove_if(&self, key: &TokenKey, value: &str) -> Result<bool> {
        let (_, token_key) = self.keys(key);
        let mut conn = Conn::open(&self.config)?;
        let needle = format!("\"value\":{}", serde_json::Value::String(value.to_owned()));
        let reply = conn.call(
            &self.config,
            &[
                b"EVAL",
                COMPARE_TOKEN_AND_DELETE.as_bytes(),
                b"1",
                token_key.as_bytes(),
                needle.as_bytes(),
            ],
        )?;
        Ok(matches!(reply, Reply::Int(n) if n > 0))
    }
}
