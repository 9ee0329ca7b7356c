//! Request pacing: some services allow a method only so often (MDLP: `/auth` and `/token`,
//! each once a second). [`TokenManager::pace`] gives every thread of this process, and every
//! process sharing the file store, its turn: one request of a kind at a time, each sent at
//! least the gap after the previous one's answer came back — so the server, which counts
//! arrivals, never sees two closer than the gap, however long the first took to reach it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::base::TokenManager;
use super::sync::lock;
use crate::error::{Error, ErrorKind, Result};
use crate::log::{log_at, Level};
use crate::token::now_ms;
use crate::token::store::{FileLock, FileStore};

/// This process's paced kinds: whether a turn is out, and when the last one ended (Unix ms).
static TURNS: Mutex<Option<HashMap<String, (bool, i64)>>> = Mutex::new(None);

/// How often a waiting thread looks whether its turn came.
const POLL: Duration = Duration::from_millis(5);

/// A turn to send one paced request; ends when dropped, recording that time as the last.
pub struct Turn {
    name: String,
    gap: Duration,
    hash: String,
    /// The store's lock on the kind, held for the turn (other processes wait for it).
    held: Option<(Arc<FileStore>, FileLock)>,
    /// When the previous turn ended (Unix ms); kept if this one is refused before it is given.
    previous: i64,
    /// Whether the turn was given (a request may have gone): only then is its end recorded.
    given: bool,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let ended = if self.given { now_ms() } else { self.previous };
        if let Some((store, _lock)) = self.held.as_ref().filter(|_| self.given) {
            if let Err(e) = store.write_pace(&self.hash, ended) {
                // Unrecorded, another process could send within the gap: keep the turn a gap.
                log_at!(
                    Level::Warn,
                    "{}: {e}; holding the turn {} ms",
                    self.name,
                    self.gap.as_millis()
                );
                std::thread::sleep(self.gap);
            }
        }
        if let Some(turn) = lock(&TURNS).as_mut().and_then(|t| t.get_mut(&self.name)) {
            *turn = (false, ended);
        }
    }
}

impl TokenManager {
    /// Waits for the turn to send a request of the kind `name`: `gap` after the previous one of
    /// this process, or of any process sharing the file store, ended. Hold the [`Turn`] until
    /// the answer is in. Waits at most until `deadline` ([`ErrorKind::Timeout`], nothing sent).
    /// A recorded time more than `gap` ahead (a clock set back) is not waited for.
    pub fn pace(&self, name: &str, gap: Duration, deadline: Instant) -> Result<Turn> {
        let timed_out = || {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "the call's deadline came before its turn: {name} allows one request every {} ms",
                    gap.as_millis()
                ),
            )
        };
        // This process's callers one at a time (a bounded wait: no blocking lock).
        let mut last = loop {
            {
                let mut turns = lock(&TURNS);
                let turn = turns
                    .get_or_insert_with(HashMap::new)
                    .entry(name.to_owned())
                    .or_insert((false, i64::MIN));
                if !turn.0 {
                    turn.0 = true;
                    break turn.1;
                }
            }
            if Instant::now() >= deadline {
                return Err(timed_out());
            }
            std::thread::sleep(POLL);
        };
        let hash: String = Sha256::digest(format!("pace:{name}").as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut turn = Turn {
            name: name.to_owned(),
            gap,
            hash,
            held: None,
            previous: last,
            given: false,
        };
        // Then the other processes of this machine, through the store's lock on the kind.
        if let Some(store) = self.file_store()? {
            let (held, _) = store
                .lock(
                    &turn.hash,
                    deadline.saturating_duration_since(Instant::now()),
                )
                .map_err(|e| match e.kind {
                    ErrorKind::Timeout => timed_out(),
                    _ => e,
                })?;
            last = last.max(store.read_pace(&turn.hash).unwrap_or(i64::MIN));
            turn.previous = last;
            // Writable before anything is sent: a turn that could not be recorded sends nothing.
            store.write_pace(&turn.hash, last.max(0))?;
            turn.held = Some((store, held));
        }
        let gap_ms = i64::try_from(gap.as_millis()).unwrap_or(i64::MAX);
        let wait_ms = last
            .saturating_add(gap_ms)
            .saturating_sub(now_ms())
            .clamp(0, gap_ms);
        if wait_ms > 0 {
            let wait = Duration::from_millis(wait_ms as u64);
            if Instant::now() + wait > deadline {
                return Err(timed_out());
            }
            log_at!(Level::Debug, "{name}: waiting {wait_ms} ms for its turn");
            // `sleep` goes on after a signal until the whole time has passed.
            std::thread::sleep(wait);
        }
        turn.given = true;
        Ok(turn)
    }
}
