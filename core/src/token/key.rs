//! The identity of a cached token: what the server keeps one live token for.

use sha2::{Digest, Sha256};

use crate::config::{Profile, ProfileFlow, Service};

/// The identity of a cached token: what the server keeps one live token for.
#[derive(Clone, Debug)]
pub struct TokenKey {
    /// Non-secret description, e.g. `suz:11b1abc9-...`; hashed into file and Redis names.
    pub label: String,
    /// Hex of the first 16 bytes of the label's SHA-256: names the key's files and Redis keys.
    pub hash: String,
}

impl TokenKey {
    /// SUZ tokens: one per SUZ (its URL) and omsConnection, whichever flow minted it (a new
    /// one revokes the old). A token signed in without an installation (True API's own, the
    /// united token, GIS MT's): one per flow, service URL, certificate and organisation (`inn`),
    /// as the server binds it. SmartMarket: one per service URL, client and
    /// scope (they coexist; caching saves calls). `url` gives each service's configured URL: the
    /// URLs keep the tokens of different stands apart.
    pub fn for_profile(profile: &Profile, url: &dyn Fn(Service) -> Option<String>) -> TokenKey {
        let url = |service| url(service).unwrap_or_default();
        let label = match &profile.flow {
            ProfileFlow::SmartMarket {
                client_id, scope, ..
            } => format!(
                "smartmarket:{}:{client_id}:{}",
                url(Service::SmartMarket),
                scope
            ),
            ProfileFlow::SignedIn {
                flow,
                inn,
                certificate,
            } => format!(
                "{}:{}:{}:{}",
                flow.name(),
                url(flow.service()),
                certificate.trim().to_ascii_lowercase(),
                inn.as_deref().unwrap_or("")
            ),
            ProfileFlow::MdlpSigned {
                flow,
                client_id,
                user_id,
                ..
            }
            | ProfileFlow::MdlpPassword {
                flow,
                client_id,
                user_id,
                ..
            } if !flow.kind().names_installation() => format!(
                "{}:{}:{}:{}",
                flow.name(),
                url(flow.service()),
                client_id.trim().to_ascii_lowercase(),
                user_id.trim().to_ascii_lowercase()
            ),
            ProfileFlow::Gismt
            | ProfileFlow::TrueApi { .. }
            | ProfileFlow::MdlpSigned { .. }
            | ProfileFlow::MdlpPassword { .. } => format!(
                "suz:{}:{}",
                url(Service::Suz),
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
        TokenKey::for_profile(&c.profiles[profile], &|service| {
            Some(match service {
                Service::SmartMarket => "https://sber.test".to_owned(),
                _ => "https://suz.test".to_owned(),
            })
        })
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

    #[test]
    fn an_mdlp_session_is_kept_per_client_and_user_and_a_suz_token_per_installation() {
        let c = Config::from_json(
            r#"{"profiles": {
              "s": {"flow": "mdlp_session", "client_id": "7DF0D06F-6510-44FE-A378-76CB53E2605F",
                    "client_secret": "s", "user_id": "User@Example.org", "password": "p"},
              "t": {"flow": "mdlp_session", "client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f",
                    "client_secret": "s", "user_id": "1865725612"},
              "z": {"flow": "mdlp", "oms_connection": "11b1abc9-f4ee-47db-8a20-f80ac83504e8",
                    "client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f", "client_secret": "s",
                    "user_id": "1865725612"}}}"#,
        )
        .unwrap();
        let key = |p: &str| {
            TokenKey::for_profile(&c.profiles[p], &|s| {
                Some(format!("https://{}.test", s.name()))
            })
        };
        assert_eq!(
            key("s").label,
            "mdlp_session:https://mdlp.test:7df0d06f-6510-44fe-a378-76cb53e2605f:user@example.org"
        );
        assert_eq!(
            key("t").label,
            "mdlp_session:https://mdlp.test:7df0d06f-6510-44fe-a378-76cb53e2605f:1865725612"
        );
        assert_eq!(
            key("z").label,
            "suz:https://suz.test:11b1abc9-f4ee-47db-8a20-f80ac83504e8"
        );
    }

    #[test]
    fn a_true_api_token_is_kept_per_certificate_and_inn() {
        let c = Config::from_json(
            r#"{"profiles": {
              "a": {"flow": "trueapi_token", "certificate": "AB12"},
              "b": {"flow": "trueapi_token", "certificate": "ab12"},
              "c": {"flow": "trueapi_token", "certificate": "ab12", "inn": "7707083893"},
              "d": {"flow": "trueapi_token", "certificate": "cd34"},
              "u": {"flow": "united_token", "certificate": "ab12", "inn": "7707083893"},
              "g": {"flow": "gismt_token", "certificate": " AB12 "}}}"#,
        )
        .unwrap();
        let key = |p: &str| {
            TokenKey::for_profile(&c.profiles[p], &|s| match s {
                Service::TrueApi => Some("https://ta.test".to_owned()),
                Service::Gismt => Some("https://gis.test".to_owned()),
                _ => None,
            })
        };
        assert_eq!(key("a").label, "trueapi_token:https://ta.test:ab12:");
        assert_eq!(
            key("c").label,
            "trueapi_token:https://ta.test:ab12:7707083893"
        );
        // Each flow keeps its own token, at its own service's URL.
        assert_eq!(
            key("u").label,
            "united_token:https://ta.test:ab12:7707083893"
        );
        assert_eq!(key("g").label, "gismt_token:https://gis.test:ab12:");
        assert_eq!(key("a").hash, key("b").hash);
        assert_ne!(key("a").hash, key("c").hash);
        assert_ne!(key("a").hash, key("d").hash);
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
