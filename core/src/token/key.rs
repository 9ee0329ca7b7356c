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
    /// The same 16 bytes as a number: what a thread's own copies of tokens are found by.
    pub id: u128,
}

impl TokenKey {
    /// SUZ tokens: one per SUZ (its URL) and omsConnection, whichever flow minted it (a new
    /// one revokes the old). A token signed in without an installation (True API's own, the
    /// united token, GIS MT's): one per flow, service URL, certificate and organisation (`inn`),
    /// as the server binds it. SmartMarket: one per service URL, client, secret and scope (they
    /// coexist; caching saves calls). MDLP's own session: one per MDLP URL, client, secret and
    /// user. A secret enters the identity only as [`secret_tag`]: a profile with another (a
    /// wrong or a rotated) secret never gets the token another secret fetched. `url` gives each service's configured URL: the
    /// URLs keep the tokens of different stands apart.
    pub fn for_profile(profile: &Profile, url: &dyn Fn(Service) -> Option<String>) -> TokenKey {
        let url = |service| url(service).unwrap_or_default();
        let label = match &profile.flow {
            ProfileFlow::SmartMarket {
                client_id,
                client_secret,
                scope,
            } => format!(
                "smartmarket:{}:{client_id}:{}:{}",
                url(Service::SmartMarket),
                scope,
                secret_tag(client_secret.expose())
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
                client_secret,
                user_id,
            }
            | ProfileFlow::MdlpPassword {
                flow,
                client_id,
                client_secret,
                user_id,
                ..
            } if !flow.kind().names_installation() => format!(
                "{}:{}:{}:{}:{}",
                flow.name(),
                url(flow.service()),
                client_id.trim().to_ascii_lowercase(),
                secret_tag(client_secret.expose()),
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
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        TokenKey {
            label,
            hash,
            id: u128::from_be_bytes(id),
        }
    }
}

/// What a secret adds to an identity: `secret#` and 16 hex digits of an HMAC-SHA256 of it under
/// a fixed key of this library's. Equal secrets give equal tags, others (almost surely) not; the
/// secret itself cannot be read back, and the secrets tagged (SmartMarket's and MDLP's client
/// secrets) are random UUIDs, too many to guess from a tag. A user's password, which may be
/// guessable, is never tagged (an MDLP session is one per user whatever the password).
pub fn secret_tag(secret: &str) -> String {
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        b"suz-auth: the identity of a token that rests on a secret",
    );
    let tag = ring::hmac::sign(&key, secret.as_bytes());
    let hex: String = tag.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("secret#{hex}")
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
            "smartmarket:https://sber.test:id1:SMART_PUSH:secret#99075b751a32a23c"
        );
        assert_eq!(
            key("d").label,
            "smartmarket:https://sber.test:id1:OTHER:secret#99075b751a32a23c"
        );
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
            "mdlp_session:https://mdlp.test:7df0d06f-6510-44fe-a378-76cb53e2605f:secret#99075b751a32a23c:user@example.org"
        );
        assert_eq!(
            key("t").label,
            "mdlp_session:https://mdlp.test:7df0d06f-6510-44fe-a378-76cb53e2605f:secret#99075b751a32a23c:1865725612"
        );
        assert_eq!(
            key("z").label,
            "suz:https://suz.test:11b1abc9-f4ee-47db-8a20-f80ac83504e8"
        );
    }

    #[test]
    fn another_secret_is_another_identity_and_the_secret_is_not_in_it() {
        // A known answer: HMAC-SHA256 under the library's key, 8 bytes in hex.
        assert_eq!(
            secret_tag("887d15a2-cb4f-4998-9591-5b26d62d3751"),
            "secret#79a6a614a02c644e"
        );
        assert_eq!(secret_tag("s"), "secret#99075b751a32a23c");
        let c = Config::from_json(
            r#"{"profiles": {
              "right": {"flow": "smartmarket", "client_id": "id1", "client_secret": "887d15a2-cb4f-4998-9591-5b26d62d3751"},
              "same": {"flow": "smartmarket", "client_id": "id1", "client_secret": "887d15a2-cb4f-4998-9591-5b26d62d3751"},
              "wrong": {"flow": "smartmarket", "client_id": "id1", "client_secret": "887d15a2-cb4f-4998-9591-5b26d62d3752"},
              "s1": {"flow": "mdlp_session", "client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f",
                     "client_secret": "a", "user_id": "u", "password": "p1"},
              "s2": {"flow": "mdlp_session", "client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f",
                     "client_secret": "a", "user_id": "u", "password": "p2"},
              "s3": {"flow": "mdlp_session", "client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f",
                     "client_secret": "b", "user_id": "u", "password": "p1"}}}"#,
        )
        .unwrap();
        let key = |p: &str| TokenKey::for_profile(&c.profiles[p], &|_| Some("u".to_owned()));
        assert_eq!(key("right").hash, key("same").hash);
        assert_ne!(key("right").hash, key("wrong").hash);
        assert!(
            !key("right").label.contains("887d15a2"),
            "{}",
            key("right").label
        );
        // An MDLP session: another client secret is another identity; the password is not in it.
        assert_eq!(key("s1").hash, key("s2").hash);
        assert_ne!(key("s1").hash, key("s3").hash);
        assert!(!key("s1").label.contains("p1"), "{}", key("s1").label);
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
