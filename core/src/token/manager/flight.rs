//! One fetch under way in this process: the thread that leads it and the threads that wait for
//! its outcome.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use super::sync::lock;
use crate::error::{Error, ErrorKind, Result};
use crate::token::Token;

/// One fetch under way, and its outcome once known.
///
/// The outcome is read without a lock: a waiter woken by the condition variable takes the
/// mutex only to leave the wait (nothing is done while holding it), so the waiters of a fetch
/// do not queue behind each other's work. Waiting allocates nothing: the first call of a new
/// host thread does not cost it a malloc arena.
#[derive(Default)]
pub(super) struct Flight {
    pub(super) outcome: OnceLock<Result<Token>>,
    pub(super) gate: Mutex<()>,
    pub(super) done: Condvar,
}

impl Flight {
    /// Sets the outcome (the first one set stays) and wakes every waiter.
    pub(super) fn finish(&self, outcome: Result<Token>) {
        let _ = self.outcome.set(outcome);
        // Taken and let go so that no waiter is between its check and its wait now.
        drop(lock(&self.gate));
        self.done.notify_all();
    }
}

/// The leader's duty: whatever happens (an error, a panic in the fetch), the waiters get an
/// outcome and the flight is removed.
pub(super) struct Leading<'a> {
    pub(super) flights: &'a Mutex<HashMap<String, Arc<Flight>>>,
    pub(super) hash: &'a str,
    pub(super) flight: Arc<Flight>,
}

impl Leading<'_> {
    pub(super) fn publish(&self, outcome: &Result<Token>) {
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
        lock(self.flights).remove(self.hash);
    }
}
