//! The answers every service shares: JSON bodies, each service's own error envelope, and the
//! standard refusals.

use serde_json::{json, Value};

use crate::faults::Endpoint;
use crate::server::Reply;
use crate::state::now_ms;

pub(crate) fn json_reply(status: u16, body: Value) -> Reply {
    Reply::Normal {
        status,
        headers: vec![(
            "Content-Type".to_owned(),
            "application/json;charset=UTF-8".to_owned(),
        )],
        body: body.to_string().into_bytes(),
    }
}

pub(crate) fn with_header(reply: Reply, name: &str, value: &str) -> Reply {
    match reply {
        Reply::Normal {
            status,
            mut headers,
            body,
        } => {
            headers.push((name.to_owned(), value.to_owned()));
            Reply::Normal {
                status,
                headers,
                body,
            }
        }
        other => other,
    }
}

/// `{"success":false,"globalErrors":[...]}` (SUZ).
pub(crate) fn suz_error(status: u16, code: i64, text: &str) -> Reply {
    json_reply(
        status,
        json!({"success": false, "globalErrors": [{"error": text, "errorCode": code}]}),
    )
}

/// `{"error_code","error_description"}` (MDLP).
pub(crate) fn mdlp_error(status: u16, code: &str, text: &str) -> Reply {
    json_reply(
        status,
        json!({"error_code": code, "error_description": text}),
    )
}

/// `{"code","error_message","description"}` (GIS MT, True API): `code` is a number.
pub(crate) fn crpt_error(status: u16, text: &str, description: &str) -> Reply {
    json_reply(
        status,
        json!({"code": status, "error_message": text, "description": description}),
    )
}

/// `{"code","message"}` (SmartMarket OAuth): `code` is a number.
pub(crate) fn sber_error(status: u16, code: u64, text: &str) -> Reply {
    json_reply(status, json!({"code": code, "message": text}))
}

/// An error in the envelope of the service behind `endpoint`.
pub(crate) fn service_error(endpoint: Endpoint, status: u16, text: &str) -> Reply {
    use Endpoint::*;
    match endpoint {
        SuzRegister | SuzPing | SuzVersion | SuzOrders => suz_error(status, status.into(), text),
        MdlpAuth | MdlpToken | MdlpSession | MdlpDocuments => {
            mdlp_error(status, &status.to_string(), text)
        }
        GismtKey | GismtToken | GismtSignIn | GismtDocuments | TrueApiKey | TrueApiToken
        | TrueApiSignIn | TrueApiParticipants => crpt_error(status, reason_text(status), text),
        SmartMarketOauth => sber_error(status, status.into(), text),
        SmartPush => json_reply(
            status,
            json!({"requestId": "", "responseId": uuid::Uuid::new_v4().to_string(),
                   "timestamp": timestamp(), "code": status,
                   "errors": [{"key": "BAD_REQUEST", "message": text}]}),
        ),
    }
}

pub(crate) fn reason_text(status: u16) -> &'static str {
    match status {
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        _ => "Bad request",
    }
}

/// 405 with the methods the route takes.
pub(crate) fn method_not_allowed(methods: &[&str]) -> Reply {
    with_header(
        json_reply(
            405,
            json!({"status": 405, "error": "Method Not Allowed", "allowed": methods}),
        ),
        "Allow",
        &methods.join(", "),
    )
}

/// The SUZ's text for a domain error code the emulator knows.
pub(crate) fn suz_error_text(code: i64) -> &'static str {
    match code {
        1140 => TOKEN_OMS_MISMATCH,
        _ => "Ошибка СУЗ",
    }
}

/// SUZ errorCode 1140: the clientToken was issued for an installation of another SUZ.
pub(crate) const TOKEN_OMS_MISMATCH: &str =
    "Маркер безопасности не соответствует идентификатору СУЗ";

/// RFC 3339 UTC timestamp with microseconds, as SmartPush writes them.
pub(crate) fn timestamp() -> String {
    let ms = now_ms();
    let (secs, micros) = (ms / 1000, (ms % 1000) * 1000);
    let (year, month, day) = civil_date((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The civil date (year, month, day) of a day counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}
