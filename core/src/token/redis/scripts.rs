//! The Lua scripts the store runs (each one atomic on the server), and how long the fencing
//! numbers live.

use std::time::Duration;

/// Takes the lock `KEYS[1]` for the owner `ARGV[1]` for `ARGV[2]` ms if it is free (or already
/// the owner's). Taking a free lock moves the fencing number `KEYS[2]` on (kept `ARGV[3]` ms).
/// Returns the fencing number, negated (at most -1), when taken; else the holder's remaining
/// milliseconds (at least 1).
pub(super) const TRY_LOCK: &str = "local v = redis.call('GET', KEYS[1]) \
if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
local f = tonumber(redis.call('GET', KEYS[2])) \
if not f then f = redis.call('INCR', KEYS[2]) redis.call('PEXPIRE', KEYS[2], ARGV[3]) end \
return -f end \
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
local f = redis.call('INCR', KEYS[2]) redis.call('PEXPIRE', KEYS[2], ARGV[3]) return -f end \
local t = redis.call('PTTL', KEYS[1]) if t < 1 then return 1 end return t";

/// Releases the lock `KEYS[1]` if it holds the owner `ARGV[1]`, and wakes a waiter through the
/// list `KEYS[2]` (at most one element, gone after `ARGV[2]` ms). Returns 1 if it released.
pub(super) const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('DEL', KEYS[1]) redis.call('RPUSH', KEYS[2], '1') redis.call('LTRIM', KEYS[2], 0, 0) \
redis.call('PEXPIRE', KEYS[2], ARGV[2]) return 1 end return 0";

/// Passes a wake-up on: one element in the list `KEYS[1]`, gone after `ARGV[1]` ms.
pub(super) const WAKE: &str =
    "redis.call('RPUSH', KEYS[1], '1') redis.call('LTRIM', KEYS[1], 0, 0) \
redis.call('PEXPIRE', KEYS[1], ARGV[1]) return 1";

/// Stores a token only while the lock still holds the caller's owner id: `KEYS[1]` the lock,
/// `KEYS[2]` the token, `ARGV[1]` the owner id, `ARGV[2]` the token, `ARGV[3]` its time to live
/// in milliseconds. Returns 1 if it stored, 0 if not. (A two-phase lease, whose owner may finish
/// in another process, is checked this way.)
pub(super) const STORE_IF_OWNER: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end";

/// Stores a token only while nobody has taken the lock since the caller did: `KEYS[1]` the
/// fencing number, `KEYS[2]` the token, `ARGV[1]` the caller's fencing number, `ARGV[2]` the
/// token, `ARGV[3]` its time to live in milliseconds. Returns 1 if it stored, 0 if not. A lock
/// that merely expired, with no other taker, still stores: nobody else can have fetched.
pub(super) const STORE_IF_FENCE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end";

/// How long a key's fencing number is kept after its lock was last taken: longer than any
/// token lives, so a holder's number is never handed out again while its fetch could matter.
pub(super) const FENCE_TTL: Duration =
    Duration::from_millis(crate::token::MAX_TOKEN_LIFETIME_MS as u64);

/// Extends the lock's time to live (`ARGV[2]` ms) if it still holds the owner id `ARGV[1]`.
/// Returns 1 if it did, 0 if not.
pub(super) const RENEW_IF_OWNER: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Deletes the stored token `KEYS[1]` only if its JSON's `value` is `ARGV[1]`.
pub(super) const INVALIDATE: &str =
    "local v = redis.call('GET', KEYS[1]) if not v then return 0 end \
local ok, t = pcall(cjson.decode, v) \
if ok and type(t) == 'table' and t['value'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end \
return 0";
