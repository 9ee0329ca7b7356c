//! The library's log: what it did (cache hit, fetch, waiting on a lock, a failed refresh).
//! Messages never contain a secret or a whole token; tokens appear masked.

use std::fmt;
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

/// Sends messages up to `max_level` to `logger`, process-wide; `None` switches logging off.
pub fn set_logger(max_level: Level, logger: Option<Logger>) {
    let mut slot = LOGGER.write().unwrap_or_else(|e| e.into_inner());
    *slot = logger.map(|l| (max_level, l));
}

pub(crate) fn log(level: Level, args: fmt::Arguments<'_>) {
    let logger = {
        let slot = LOGGER.read().unwrap_or_else(|e| e.into_inner());
        match slot.as_ref() {
            Some((max, logger)) if level <= *max => logger.clone(),
            _ => return,
        }
    };
    logger(level, &args.to_string());
}

macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        $crate::log::log($level, format_args!($($arg)*))
    };
}
pub(crate) use log_at;
