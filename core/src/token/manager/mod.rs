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

mod base;
mod fetch;
mod flight;
mod kept;
mod local_lease;
mod pace;
mod record;
mod sync;
mod two_phase;

pub use self::base::{Acquired, TokenManager};
pub use self::pace::Turn;
