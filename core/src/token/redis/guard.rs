//! The holder's side of the Redis lock: renewed while the fetch runs, released on drop, and the
//! one way to store the fetched token under it.

use std::sync::mpsc;

use super::{Check, Keys, RedisStore};
use crate::error::Result;
use crate::log::{log_at, Level};
use crate::token::Token;

/// The Redis lock held for one fetch (or not held, when a fresh token was found): renewed in
/// the background while held, released (by owner) on drop.
pub struct RedisGuard {
    store: RedisStore,
    keys: Keys,
    label: String,
    owner: String,
    /// The fencing number the lock was taken with (0 for an idle guard).
    fence: i64,
    held: bool,
    /// Dropping it stops the renewing thread.
    _renewer: Option<mpsc::Sender<()>>,
}

impl RedisGuard {
    pub(super) fn idle(store: &RedisStore, keys: Keys, label: &str, owner: String) -> RedisGuard {
        RedisGuard {
            store: store.clone(),
            keys,
            label: label.to_owned(),
            owner,
            fence: 0,
            held: false,
            _renewer: None,
        }
    }

    pub(super) fn held(
        store: &RedisStore,
        keys: Keys,
        label: &str,
        owner: String,
        fence: i64,
    ) -> RedisGuard {
        let (stop, stopped) = mpsc::channel::<()>();
        let period = store.config().lock_ttl / 3;
        let (renewer, lock, who, ttl) = (
            store.clone(),
            keys.lock.clone(),
            owner.clone(),
            store.config().lock_ttl,
        );
        let name = label.to_owned();
        let spawned = std::thread::Builder::new()
            .name("suz-redis-renew".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    match renewer.renew(&lock, &who, ttl) {
                        Ok(true) => {}
                        // Released in the meantime: nothing to say.
                        Ok(false)
                            if matches!(
                                stopped.try_recv(),
                                Err(mpsc::TryRecvError::Disconnected)
                            ) =>
                        {
                            return
                        }
                        Ok(false) => {
                            log_at!(
                                Level::Warn,
                                "{name}: the Redis lock expired while fetching (another machine may take it)"
                            );
                            return;
                        }
                        Err(e) => log_at!(Level::Warn, "{name}: cannot renew the Redis lock: {e}"),
                    }
                }
            });
        if let Err(e) = &spawned {
            log_at!(
                Level::Warn,
                "{label}: no thread to renew the Redis lock ({e}): it lasts redis.lock_ttl_ms"
            );
        }
        RedisGuard {
            store: store.clone(),
            keys,
            label: label.to_owned(),
            owner,
            fence,
            held: true,
            _renewer: spawned.ok().map(|_| stop),
        }
    }

    /// Stores the fetched token with a TTL equal to its remaining lifetime, unless another
    /// holder has taken the lock since this guard did (checked by fencing number and written in
    /// one atomic script): `true` if it stored. `false` means the lock was lost to a holder that
    /// may have minted a token of its own — which of the two the server keeps, nobody here can
    /// tell; nothing is written.
    pub fn store(&self, token: &Token) -> Result<bool> {
        self.store
            .store_checked(&self.keys, &self.label, Check::Fence(self.fence), token)
    }
}

impl Drop for RedisGuard {
    fn drop(&mut self) {
        self._renewer.take();
        if self.held {
            let _ = self.store.run(self.store.op_deadline(), |conn| {
                self.store.release_on(conn, &self.keys, &self.owner)
            });
        }
    }
}
