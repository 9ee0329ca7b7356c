//! The library's log: what it did (cache hit, fetch, waiting on a lock, a failed refresh).
//! Messages never contain a secret or a whole token; tokens appear masked.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

/// Severity, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Level {
    /// A failure.
    Error = 1,
    /// Something unexpected the library worked around, e.g. an interrupted fetch.
    Warn = 2,
    /// A notable event, e.g. waiting for another process's fetch.
    Info = 3,
    /// Details, e.g. a cache hit.
    Debug = 4,
}

impl Level {
    /// The level's lowercase name, e.g. `warn`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// Receives log messages; called on whichever thread the library is working on, possibly from
/// several threads at once.
pub type Logger = Arc<dyn Fn(Level, &str) + Send + Sync>;

static LOGGER: RwLock<Option<(Level, Logger)>> = RwLock::new(None);

/// The most verbose level the logger takes (0: no logger): read before anything else, so a
/// message nobody receives costs one relaxed load — no lock on the cache-hit path.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// Set while this thread is inside the logger: a message logged from within the logger is
    /// dropped, and the logger may not be replaced from within itself.
    static IN_LOGGER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sends messages up to `max_level` to `logger`, process-wide; `None` switches logging off.
///
/// When this returns, the previous logger is no longer running and will never be called again:
/// it waits for calls of the previous logger in flight on other threads. Called from inside
/// the logger itself it would wait for itself, so that is an
/// [`crate::ErrorKind::InvalidArgument`] error and nothing changes.
pub fn set_logger(max_level: Level, logger: Option<Logger>) -> crate::Result<()> {
    if IN_LOGGER.with(|f| f.get()) {
        return Err(crate::Error::invalid_argument(
            "the log callback cannot be replaced from inside the log callback",
        ));
    }
    let mut slot = LOGGER.write().unwrap_or_else(|e| e.into_inner());
    let previous = std::mem::replace(&mut *slot, logger.map(|l| (max_level, l)));
    MAX_LEVEL.store(
        slot.as_ref().map_or(0, |(level, _)| *level as u8),
        Ordering::Relaxed,
    );
    drop(slot);
    // Dropped here, after no thread can be running it any more.
    drop(previous);
    Ok(())
}

pub(crate) fn log(level: Level, args: fmt::Arguments<'_>) {
    // Checked again under the lock below; this only skips the lock when nobody listens.
    if level as u8 > MAX_LEVEL.load(Ordering::Relaxed) {
        return;
    }
    if IN_LOGGER.with(|f| f.get()) {
        return;
    }
    // The read lock is held while the logger runs, so `set_logger` waits for calls in flight.
    let slot = LOGGER.read().unwrap_or_else(|e| e.into_inner());
    let Some((max, logger)) = slot.as_ref() else {
        return;
    };
    if level > *max {
        return;
    }
    struct Inside;
    impl Drop for Inside {
        fn drop(&mut self) {
            IN_LOGGER.with(|f| f.set(false));
        }
    }
    IN_LOGGER.with(|f| f.set(true));
    let _inside = Inside;
    logger(level, &args.to_string());
}

macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        $crate::log::log($level, format_args!($($arg)*))
    };
}
pub(crate) use log_at;
