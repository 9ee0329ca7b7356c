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
    /// SUZ tokens: one per SUZ (its URL, `suz_url`) and omsConnection, whichever flow minted it
    /// (a new one revokes the old). SmartMarket: one per service URL (`smartmarket_url`), client
    /// and scope (they coexist; caching saves calls). The URLs keep the tokens of different
    /// stands apart.
    pub fn for_profile(
        profile: &Profile,
        suz_url: Option<&str>,
        smartmarket_url: Option<&str>,
    ) -> TokenKey {
        let label = match &profile.flow {
            ProfileFlow::SmartMarket {
                client_id, scope, ..
            } => format!(
                "smartmarket:{}:{client_id}:{}",
                smartmarket_url.unwrap_or(""),
                scope
            ),
            ProfileFlow::Gismt
            | ProfileFlow::TrueApi { .. }
            | ProfileFlow::MdlpSigned { .. }
            | ProfileFlow::MdlpPassword { .. } => format!(
                "suz:{}:{}",
                suz_url.unwrap_or(""),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn key(profile: &str) -> TokenKey {
        let c = Config::from_json(
            r#"{"profiles": {
              "a": {"flow": "gismt", "oms_connection": "11B1ABC9-F4EE-47DB-8A20-F80AC83504E8"},
              "b": {"flow": "mdlp", "oms_connection": "11b1abc9-f4ee-47db-8a20-f80ac83504e8",
                    "client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f", "client_secret": "s",
                    "user_id": "u", "password": "p"},
              "c": {"flow": "smartmarket", "client_id": "id1", "client_secret": "s"},
              "d": {"flow": "smartmarket", "client_id": "id1", "client_secret": "s", "scope": "OTHER"},
              "e": {"flow": "smartmarket", "client_id": "id2", "client_secret": "s"}}}"#,
        )
        .unwrap();
        TokenKey::for_profile(
            &c.profiles[profile],
            Some("https://suz.test"),
            Some("https://sber.test"),
        )
    }

    #[test]
    fn one_key_per_installation_and_per_smartmarket_client_and_scope() {
        // Every SUZ flow of one installation shares a key (a new token revokes the old one).
        assert_eq!(
            key("a").label,
            "suz:https://suz.test:11b1abc9-f4ee-47db-8a20-f80ac83504e8"
        );
        assert_eq!(key("a").hash, key("b").hash);
        assert_eq!(
            key("c").label,
            "smartmarket:https://sber.test:id1:SMART_PUSH"
        );
        assert_eq!(key("d").label, "smartmarket:https://sber.test:id1:OTHER");
        let hashes = [key("a").hash, key("c").hash, key("d").hash, key("e").hash];
        for (i, h) in hashes.iter().enumerate() {
            assert_eq!(h.len(), 32);
            assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(!hashes[i + 1..].contains(h), "{hashes:?}");
        }
    }
}

/// What the cache needs of a profile: its name (for the log) and its refresh margin — never the
/// profile itself, whose secrets the cache has no use for.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// The profile's name, for log lines.
    pub name: &'a str,
    /// The profile's `refresh_margin_ms`; `None` uses the cache's, or one from the lifetime.
    pub refresh_margin: Option<std::time::Duration>,
}

impl<'a> From<&'a Profile> for Policy<'a> {
    fn from(profile: &'a Profile) -> Policy<'a> {
        Policy {
            name: &profile.name,
            refresh_margin: profile.refresh_margin,
        }
    }
}

impl<'a> From<&Policy<'a>> for Policy<'a> {
    fn from(policy: &Policy<'a>) -> Policy<'a> {
        *policy
    }
}
