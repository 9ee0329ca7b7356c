//! suz-auth-core: dynamic API tokens for Chestny ZNAK's order management station (SUZ) and for
//! Sber SmartMarket — the Rust library under the C ABI, the `suz` tool and the 1C add-in.
//!
//! The API is [`Client`]: configured from one JSON document, it runs every flow (installation
//! registration, MDLP, GIS MT, True API, SmartMarket OAuth, SmartPush) in one call or in two
//! phases, and keeps each profile's token cached with one fetch per installation across
//! threads, processes and machines.
//!
//! Layers, each using only those below it:
//!
//! ```text
//! client      config in, profiles, one deadline per call, 401 retry     (client/)
//! flows       build request <- inputs; parse response -> typed result   (flows/, no I/O)
//! token       key, cache with single flight, file and Redis stores      (token/)
//! signer      callback, command, normalisation, CMS check               (signer.rs, cms.rs)
//! transport   HTTP/1.1 on own sockets: pooled, bounded, safe retries  (transport/, net.rs)
//! config      the JSON document, by types                               (config/)
//! error, log
//! ```
//!
//! ```no_run
//! let client = suz_auth_core::Client::from_json(r#"{"stand": "demo"}"#)?;
//! let token = client.token_smartmarket("client-id", "client-secret", None)?;
//! println!("{} until {}", token.masked(), token.expires_at_ms());
//! # Ok::<(), suz_auth_core::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod civil;
pub mod client;
mod cms;
pub mod config;
pub mod error;
pub mod flows;
pub mod log;
mod net;
mod random;
pub mod signer;
pub mod token;
pub mod transport;
pub mod value;

pub use client::{Acquired, Client};
pub use config::{Config, Service};
pub use error::{Error, ErrorKind, Result};
pub use flows::{MdlpCredentials, PendingSignature};
pub use log::{set_logger, Level, Logger};
pub use signer::{conform_signature, normalize_signature, CommandSigner, SignatureKind, Signer};
pub use token::{Flow, Token};
pub use transport::Response;
