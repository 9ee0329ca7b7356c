//! What the console may show of a request or an answer: secrets masked, long values cut.

use serde_json::Value;

/// The first four characters and an ellipsis (the whole value never).
pub fn masked(value: &str) -> String {
    format!("{}…", value.chars().take(4).collect::<String>())
}

/// Fields whose values are secrets, in JSON and form bodies alike.
const SECRET_FIELDS: &[&str] = &[
    "token",
    "access_token",
    "clientToken",
    "uuidToken",
    "client_secret",
    "password",
    "code",
    "signature",
];

/// Headers whose values are secrets.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "clienttoken",
    "x-registrationkey",
    "cookie",
];

/// The most of a body the console keeps.
const BODY_LIMIT: usize = 4096;
/// A string value longer than this (a signature, a challenge's CMS) is cut.
const VALUE_LIMIT: usize = 96;

/// Headers with secrets masked: `Authorization` keeps its scheme, `X-Signature` is cut.
pub fn headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let shown = if SECRET_HEADERS.contains(&lower.as_str()) {
                match value.split_once(' ') {
                    Some((scheme, rest)) if lower == "authorization" => {
                        format!("{scheme} {}", masked(rest))
                    }
                    _ => masked(value),
                }
            } else {
                cut(value, VALUE_LIMIT)
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The secrets a request sent in its headers (a `clientToken`, `Authorization`'s credentials,
/// a registration key): an answer may echo them — SUZ's 1140 text names the token — so the
/// console hides them wherever they appear ([`hide`]).
pub fn sent_secrets(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            if !SECRET_HEADERS.contains(&lower.as_str()) {
                return None;
            }
            let secret = match value.split_once(' ') {
                Some((_, rest)) if lower == "authorization" => rest,
                _ => value.as_str(),
            };
            // A value this short would mask unrelated text; none of the services' is.
            (secret.len() >= 8).then(|| secret.to_owned())
        })
        .collect()
}

/// `text` with every one of `secrets` replaced by its [`masked`] form.
pub fn hide(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_owned(), |t, s| t.replace(s.as_str(), &masked(s)))
}

/// A body as text, secrets masked (JSON and form bodies), cut at 4 KiB.
pub fn body(bytes: &[u8], gzip: bool) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    if gzip {
        return format!("(gzip-encoded, {} bytes)", bytes.len());
    }
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let shown = match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            scrub(&mut v);
            v.to_string()
        }
        Err(_) if text.contains('=') && !text.contains(char::is_whitespace) => form(text),
        Err(_) => text.to_owned(),
    };
    cut(&shown, BODY_LIMIT)
}

fn scrub(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(s) if SECRET_FIELDS.contains(&key.as_str()) => {
                        *s = masked(s);
                    }
                    Value::String(s) => *s = cut(s, VALUE_LIMIT),
                    other => scrub(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

fn form(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if SECRET_FIELDS.contains(&k) => format!("{k}={}", masked(v)),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn cut(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        s.to_owned()
    } else {
        let head: String = s.chars().take(limit).collect();
        format!("{head}… ({} characters)", s.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_long_values_cut() {
        let shown = body(
            br#"{"client_secret":"887d15a2-cb4f","user_id":"u","nested":{"token":"abcdefgh"}}"#,
            false,
        );
        assert!(
            !shown.contains("887d15a2-cb4f") && !shown.contains("abcdefgh"),
            "{shown}"
        );
        assert!(
            shown.contains("887d…") && shown.contains("\"user_id\":\"u\""),
            "{shown}"
        );
        assert_eq!(
            body(b"scope=X&password=hunter2", false),
            "scope=X&password=hunt…"
        );
        let h = headers(&[
            ("Authorization".into(), "Basic c2VjcmV0OnBhc3M=".into()),
            ("clientToken".into(), "0f8c9e1a-aaaa".into()),
        ]);
        assert_eq!(h[0].1, "Basic c2Vj…");
        assert_eq!(h[1].1, "0f8c…");
        let token = "2dbf7778-b646-4528-9875-4dfd4db61df2";
        let sent = sent_secrets(&[("clientToken".into(), token.into())]);
        let echoed = format!("Маркер безопасности {token} не соответствует");
        assert_eq!(
            hide(&echoed, &sent),
            "Маркер безопасности 2dbf… не соответствует"
        );
        let long = "A".repeat(500);
        assert!(
            body(format!(r#"{{"data":"{long}"}}"#).as_bytes(), false).contains("(500 characters)")
        );
    }
}
