//! Leases: how one caller holds the right to fetch an installation's token across a signing
//! that happens elsewhere.
//!
//! `acquire` either finds a fresh token or takes the key's lease: a record with a random owner
//! id and an expiry, in the file store (every process on the machine), in Redis (every
//! machine), or in memory when the cache has neither. The lease travels with the pending
//! operation (exported with it, too), so `complete` may run in another process or on another
//! machine that shares the store: it checks the record still names its owner (or that nobody
//! took it since it expired), holds it while it sends, stores the token and removes the
//! record. A caller that finds another's live lease waits for its token; a holder that never
//! completes loses the lease when it expires, and the next caller takes it over.
//!
//! The one-call form (`get`, with a callback or command signer) runs the same steps without a
//! record: it holds the key's OS lock for the whole fetch, which the kernel releases if the
//! process dies, so a killed process never blocks the installation for a lease's lifetime.

pub use crate::value::Lease;
