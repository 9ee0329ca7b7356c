//! The expiry a sign-in answer states, in whichever form it has (see docs/PROTOCOL.md §4b):
//! `expireDate` (RFC 3339 or a Unix time), `exp`, `expires_in`, `life_time`, or the `exp`
//! claim of a token that is a JWT. Pure functions of the answer and the current time.

use base64::Engine;
use serde_json::Value;

/// A sign-in answer's expiry (Unix ms) and where it came from, from the first form the answer
/// has; `None` when it has none (the caller's default applies).
pub(super) fn answer_expiry(v: &Value, token: &str, now_ms: i64) -> Option<(i64, &'static str)> {
    // A time or a span of zero, below zero, or not finite says nothing: the next form is read.
    let positive = |n: &f64| n.is_finite() && *n > 0.0;
    let number = |name: &str| super::number_field(v, name).filter(positive);
    if let Some(at) = v.get("expireDate").and_then(|d| match d {
        Value::String(s) => {
            rfc3339_ms(s).or_else(|| s.trim().parse::<f64>().ok().filter(positive).map(unix_ms))
        }
        Value::Number(n) => n.as_f64().filter(positive).map(unix_ms),
        _ => None,
    }) {
        return Some((at, "`expireDate`"));
    }
    if let Some(exp) = number("exp") {
        return Some((unix_ms(exp), "`exp`"));
    }
    if let Some(seconds) = number("expires_in") {
        return Some((
            now_ms.saturating_add((seconds * 1000.0) as i64),
            "`expires_in`",
        ));
    }
    if let Some(minutes) = number("life_time") {
        return Some((
            now_ms.saturating_add((minutes * 60_000.0) as i64),
            "`life_time`",
        ));
    }
    jwt_expiry_ms(token).map(|exp| (exp, "the JWT's `exp` claim"))
}

/// A Unix time in seconds or, when it is too large for seconds, milliseconds.
fn unix_ms(t: f64) -> i64 {
    if t > 1e11 {
        t as i64
    } else {
        (t * 1000.0) as i64
    }
}

/// An RFC 3339 date-time (`2026-09-30T20:16:34.123+03:00`, `…Z`; a space for the `T`; no zone:
/// Moscow time, as CRPT's services write it) in Unix ms; `None` for anything else.
fn rfc3339_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let seps = (
        s.get(4..5)?,
        s.get(7..8)?,
        s.get(10..11)?,
        s.get(13..14)?,
        s.get(16..17)?,
    );
    if seps.0 != "-"
        || seps.1 != "-"
        || !(seps.2 == "T" || seps.2 == " " || seps.2 == "t")
        || seps.3 != ":"
        || seps.4 != ":"
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..n.min(3)]);
        millis = padded.parse().ok()?;
        rest = &fraction[n..];
    }
    let offset_minutes = match rest {
        "" => 3 * 60,
        "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = zone[1..].replace(':', "");
            if hm.len() != 4 || !hm.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            sign * (hm[..2].parse::<i64>().ok()? * 60 + hm[2..].parse::<i64>().ok()?)
        }
    };
    let days = crate::civil::days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// The `exp` claim of a JWT, in ms, when the token is one (True API tokens are); otherwise None.
fn jwt_expiry_ms(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let exp = serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()?;
    (exp > 1_000_000_000).then(|| exp.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;
    /// 2023-11-15T00:13:20Z, two hours after NOW.
    const AT: i64 = 1_700_007_200_000;

    fn expiry(v: Value) -> Option<(i64, &'static str)> {
        answer_expiry(&v, "not-a-jwt", NOW)
    }

    fn jwt(payload: &str) -> String {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            b.encode(br#"{"alg":"none"}"#),
            b.encode(payload)
        )
    }

    #[test]
    fn each_form_and_its_source() {
        assert_eq!(
            expiry(json!({"expireDate": "2023-11-15T00:13:20Z"})),
            Some((AT, "`expireDate`"))
        );
        assert_eq!(
            expiry(json!({"expireDate": AT})),
            Some((AT, "`expireDate`"))
        );
        assert_eq!(
            expiry(json!({"expireDate": " 1700007200 "})),
            Some((AT, "`expireDate`"))
        );
        assert_eq!(expiry(json!({"exp": 1_700_007_200})), Some((AT, "`exp`")));
        assert_eq!(
            expiry(json!({"expires_in": 7200})),
            Some((AT, "`expires_in`"))
        );
        assert_eq!(expiry(json!({"life_time": 120})), Some((AT, "`life_time`")));
        let token = jwt(r#"{"exp":1700007200}"#);
        assert_eq!(
            answer_expiry(&json!({}), &token, NOW),
            Some((AT, "the JWT's `exp` claim"))
        );
        assert_eq!(expiry(json!({})), None);
    }

    #[test]
    fn the_first_form_present_wins_and_a_worthless_one_is_passed_over() {
        let both = json!({"expireDate": "2023-11-15T00:13:20Z", "exp": 1, "expires_in": 1});
        assert_eq!(expiry(both), Some((AT, "`expireDate`")));
        for worthless in [
            json!(0),
            json!(-5),
            json!(-0.5),
            json!("0"),
            json!("-5"),
            json!("NaN"),
            json!("inf"),
            json!("soon"),
            json!(null),
        ] {
            let v = json!({"exp": worthless, "expires_in": 7200});
            assert_eq!(expiry(v), Some((AT, "`expires_in`")), "exp {worthless}");
            let v = json!({"expireDate": worthless, "life_time": 120});
            assert_eq!(
                expiry(v),
                Some((AT, "`life_time`")),
                "expireDate {worthless}"
            );
        }
        let v = json!({"expires_in": 0, "life_time": -1});
        assert_eq!(
            answer_expiry(&v, &jwt(r#"{"exp":1700007200}"#), NOW)
                .unwrap()
                .0,
            AT
        );
    }

    #[test]
    fn a_unix_time_is_seconds_unless_too_large_for_seconds() {
        assert_eq!(unix_ms(1_700_007_200.0), AT);
        assert_eq!(unix_ms(1e11), 100_000_000_000_000);
        assert_eq!(unix_ms(1e11 + 1.0), 100_000_000_001);
        assert_eq!(unix_ms(AT as f64), AT);
    }

    #[test]
    fn dates_in_every_written_form() {
        for (s, ms) in [
            ("2023-11-15T00:13:20Z", AT),
            ("2023-11-15t00:13:20z", AT),
            ("2023-11-15 03:13:20", AT),
            ("2023-11-15T03:13:20+03:00", AT),
            ("2023-11-15T03:43:20+03:30", AT),
            ("2023-11-15T03:43:20+0330", AT),
            ("2023-11-14T21:13:20-03:00", AT),
            ("2023-11-15T00:13:20.5Z", AT + 500),
            ("2023-11-15T00:13:20.05Z", AT + 50),
            ("2023-11-15T00:13:20.123456Z", AT + 123),
            ("2024-01-01T00:00:00Z", 1_704_067_200_000),
            ("2024-02-29T23:59:59Z", 1_709_251_199_000),
            ("2024-03-01T00:00:00Z", 1_709_251_200_000),
            ("2000-02-29T12:00:00Z", 951_825_600_000),
            ("1999-12-31T23:59:59Z", 946_684_799_000),
            ("2100-03-01T00:00:00Z", 4_107_542_400_000),
            (
                "2023-11-15T23:59:59Z",
                AT + (23 * 3600 + 46 * 60 + 39) * 1000,
            ),
            ("2023-11-15T00:13:60Z", AT + 40_000),
        ] {
            assert_eq!(rfc3339_ms(s), Some(ms), "{s}");
        }
    }

    #[test]
    fn anything_else_is_not_a_date() {
        for s in [
            "",
            "tomorrow",
            "2023/11-15T00:13:20Z",
            "2023-11/15T00:13:20Z",
            "2023-11-15X00:13:20Z",
            "2023-11-15T00-13:20Z",
            "2023-11-15T00:13-20Z",
            "2023-00-15T00:13:20Z",
            "2023-13-15T00:13:20Z",
            "2023-11-00T00:13:20Z",
            "2023-11-32T00:13:20Z",
            "2023-11-15T24:13:20Z",
            "2023-11-15T00:60:20Z",
            "2023-11-15T00:13:61Z",
            "2023-11-15T00:13",
            "2023-11-15T0a:13:20Z",
            "2023-11-15T00:13:20.Z",
            "2023-11-15T00:13:20 UTC",
            "2023-11-15T00:13:20+3:00",
            "2023-11-15T00:13:20+03:0x",
            "2023-11-15T00:13:20+03:000",
        ] {
            assert_eq!(rfc3339_ms(s), None, "{s}");
        }
    }

    #[test]
    fn a_jwt_gives_its_exp_only_when_it_is_a_time() {
        assert_eq!(jwt_expiry_ms(&jwt(r#"{"exp":1700007200}"#)), Some(AT));
        assert_eq!(
            jwt_expiry_ms(&jwt(r#"{"exp":1000000001}"#)),
            Some(1_000_000_001_000)
        );
        assert_eq!(jwt_expiry_ms(&jwt(r#"{"exp":1000000000}"#)), None);
        assert_eq!(jwt_expiry_ms(&jwt(r#"{"exp":"1700007200"}"#)), None);
        assert_eq!(jwt_expiry_ms(&jwt(r#"{"nbf":1700007200}"#)), None);
        assert_eq!(jwt_expiry_ms(&jwt("not json")), None);
        assert_eq!(
            jwt_expiry_ms(&jwt(r#"{"exp":9000000000000000000}"#)),
            Some(i64::MAX)
        );
        assert_eq!(jwt_expiry_ms("no-dots"), None);
        assert_eq!(jwt_expiry_ms("a.!!!.b"), None);
    }
}
