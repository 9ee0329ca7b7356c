//! suz-auth: dynamic API tokens for Chestny ZNAK's order management station (SUZ) and for Sber
//! SmartMarket, with a C ABI for any host (1C, Python, C#, C, C++).
//!
//! The Rust API is [`Client`]; the C ABI in [`ffi`] is a thin layer over it.
//!
//! ```no_run
//! let client = suz_auth::Client::from_json(r#"{"stand": "demo"}"#)?;
//! let token = client.token_smartmarket("client-id", "client-secret", None)?;
//! println!("{} until {}", token.masked(), token.expires_at_ms());
//! # Ok::<(), suz_auth::Error>(())
//! ```

pub mod client;
pub mod config;
pub mod error;
pub mod ffi;
pub mod flows;
pub mod http;
pub mod log;
mod requests;
pub mod signer;
pub mod token;

pub use client::Client;
pub use config::{Config, Service};
pub use error::{Error, ErrorKind, Result};
pub use flows::{MdlpCredentials, PendingSignature};
pub use http::Response;
pub use log::{set_logger, Level, Logger};
pub use signer::{normalize_signature, CommandSigner, SignatureKind, Signer};
pub use token::{Flow, Token};
