//! The identity of a cached token: what the server keeps one live token for.

use sha2::{Digest, Sha256};

use crate::config::{Profile, ProfileFlow};

/// The identity of a cached token: what the server keeps one live token for.
#[derive(Clone, Debug)]
pub struct TokenKey {
    /// Non-secret description, e.g. `suz:11b1abc9-...`; hashed into file and Redis names.
    pub label: String,
    /// Hex of the first 16 bytes of the label's SHA-256: names the key's files and Redis keys.
    pub hash: String,
}

impl TokenKey {
    /// SUZ tokens: one per omsConnection, whichever flow minted it (a new one revokes the old).
    /// SmartMarket: one per service URL, client and scope (they coexist; caching saves calls).
    pub fn for_profile(profile: &Profile, smartmarket_url: Option<&str>) -> TokenKey {
        let label = match &profile.flow {
            ProfileFlow::SmartMarket {
                client_id, scope, ..
            } => format!(
                "smartmarket:{}:{client_id}:{}",
                smartmarket_url.unwrap_or(""),
                scope
            ),
            _ => format!(
                "suz:{}",
                profile
                    .oms_connection
                    .as_deref()
                    .unwrap_or("")
                    .to_ascii_lowercase()
            ),
        };
        let digest = Sha256::digest(label.as_bytes());
        let hash = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        TokenKey { label, hash }
    }
}
