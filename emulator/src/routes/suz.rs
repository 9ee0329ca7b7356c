//! SUZ: installation registration and the protected API (`clientToken`, `omsId`).

use serde_json::json;

use super::common::*;
use crate::faults::Endpoint;
use crate::reply::*;
use crate::server::{Reply, Request};
use crate::state::{now_ms, Inner, Installation, State};

/// The request's `omsId` as the SUZ reads it: a Spring application binding a repeated
/// parameter to one string joins the values with commas, so `?omsId=a&omsId=b` is the omsId
/// `a,b` (which names no SUZ), never the first one alone. Empty when there is none.
pub(crate) fn oms_id_param(req: &Request) -> String {
    let values: Vec<&str> = req
        .query
        .iter()
        .filter(|(n, _)| n == "omsId")
        .map(|(_, v)| v.as_str())
        .collect();
    values.join(",")
}

/// SUZ errorCode 1140, worded as the SUZ words it (a public trace of 2021: the token and the
/// omsId as sent, 400).
fn token_oms_mismatch(token: &str, oms_id: &str) -> Reply {
    suz_error(
        400,
        1140,
        &format!(
            "Маркер безопасности {token} не соответствует указанному в запросе идентификатору СУЗ {oms_id}"
        ),
    )
}

/// The product groups API 2 serves under `/api/v2/{extension}/`: CRPT publishes no list of
/// the path values, so this is every value a source uses — the «Товарные группы» dictionary
/// of «API СУЗ 3.0» (§5.3.1.16, whose aliases the v2 examples `nabeer` and `wheelchairs` are)
/// and the public API 2 clients (`light`, `perfum`, `photo`, `shoe`; `alcohol`, `pharmaraw`
/// from a True API enumeration). Anything else is 404.
pub(crate) const PRODUCT_GROUPS: &[&str] = &[
    "lp",
    "light",
    "shoes",
    "shoe",
    "tobacco",
    "perfumery",
    "perfum",
    "tires",
    "electronics",
    "photo",
    "pharma",
    "milk",
    "bicycle",
    "wheelchairs",
    "alcohol",
    "otp",
    "water",
    "furs",
    "beer",
    "ncp",
    "bio",
    "antiseptic",
    "petfood",
    "seafood",
    "nabeer",
    "softdrinks",
    "meat",
    "vetpharma",
    "toys",
    "radio",
    "titan",
    "conserve",
    "vegetableoil",
    "opticfiber",
    "chemistry",
    "books",
    "grocery",
    "pharmaraw",
    "construction",
    "fire",
    "heater",
    "cableraw",
    "autofluids",
    "polymer",
    "sweets",
    "carparts",
    "nicotindev",
    "gadgets",
    "vetbio",
];

pub(crate) fn known_oms_id(s: &Inner, oms_id: &str) -> bool {
    // The SUZ compares omsId exactly (case-sensitively).
    s.config.oms_ids.iter().any(|o| o == oms_id)
}

/// The SUZ's answer to an omsId it does not know.
pub(crate) fn unknown_oms_id(oms_id: &str) -> Reply {
    suz_error(400, 400, &format!("unknown omsId {oms_id:?}"))
}

/// Registers an installation. With `v3` («API СУЗ 3.0» §9.2.1): the body may name it (`name`,
/// 1 to 256 characters; a UUID when it does not), the answer echoes the name, and an attached
/// `X-Signature` is refused with 413, as the document says.
pub(crate) fn register(state: &State, req: &Request, v3: bool) -> Reply {
    let oms_id = oms_id_param(req);
    let key = req
        .header("X-RegistrationKey")
        .unwrap_or("")
        .to_ascii_lowercase();
    let (pharma, policy) = {
        let s = state.lock();
        if !known_oms_id(&s, &oms_id) {
            return unknown_oms_id(&oms_id);
        }
        let pharma = s
            .config
            .pharma_registration_keys
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&key));
        let known = pharma
            || s.config
                .registration_keys
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&key));
        if !known {
            return json_reply(
                200,
                json!({"status": "REJECTED", "rejectionReason": "Unknown registration key"}),
            );
        }
        (pharma, policy(&s))
    };
    let Some(body) = body_json(req) else {
        return suz_error(400, 400, "the body must be a JSON object");
    };
    if str_field(&body, "address").is_none_or(|a| a.trim().is_empty()) {
        return json_reply(
            200,
            json!({"status": "REJECTED", "rejectionReason": "The installation address is empty"}),
        );
    }
    let name = match body.get("name") {
        _ if !v3 => None,
        None | Some(serde_json::Value::Null) => Some(uuid::Uuid::new_v4().to_string()),
        Some(serde_json::Value::String(n)) if (1..=256).contains(&n.chars().count()) => {
            Some(n.clone())
        }
        Some(_) => return suz_error(400, 400, "name: a string of 1 to 256 characters"),
    };
    let inn = match req.header("X-Signature") {
        Some(sig) => match verify(state, policy, sig, &req.body, false) {
            Ok(v) => v.signer.owner_inn(),
            Err(r) if v3 && r.message.starts_with("attached signature") => {
                return suz_error(413, 413, &r.message)
            }
            Err(r) => return suz_error(r.status, r.status.into(), &r.message),
        },
        None if pharma => None,
        None => return suz_error(400, 400, "X-Signature is required"),
    };
    let connection = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
    state.lock().connections.insert(
        connection.to_ascii_lowercase(),
        Installation { oms_id, inn },
    );
    let mut answer = json!({"status": "SUCCESS", "omsConnection": connection});
    if let Some(name) = name {
        answer["name"] = json!(name);
    }
    json_reply(200, answer)
}

/// What SUZ refuses in an order, or `None`. A present `X-Signature` must be a detached
/// signature over the body: an attached one is 413 (3.0 §2.3.1, Table 258), one that does not
/// verify 400. Then the body's fields: every missing or malformed one listed in
/// `fieldErrors` (`{fieldName, fieldError}`, the "protobeans" shape of SUZ's «Формат ошибки»,
/// §6.2.1), 400 — not only the first.
fn refuse_order(state: &State, req: &Request, v3: bool) -> Option<Reply> {
    if let Some(signature) = req.header("X-Signature") {
        let policy = policy(&state.lock());
        if let Err(r) = verify(state, policy, signature, &req.body, false) {
            if r.message.starts_with("attached signature") {
                return Some(suz_error(413, 413, &r.message));
            }
            return Some(suz_error(400, 400, &format!("X-Signature: {}", r.message)));
        }
    }
    let Some(body) = body_json(req) else {
        return Some(suz_error(400, 400, "the body must be a JSON object"));
    };
    let mut errors: Vec<(String, &str)> = Vec::new();
    if v3 && str_field(&body, "productGroup").is_none() {
        errors.push(("productGroup".into(), "не должно быть пустым"));
    }
    match body.get("products").and_then(|p| p.as_array()) {
        Some(products) if !products.is_empty() => {
            for (i, p) in products.iter().enumerate() {
                let gtin = p.get("gtin").and_then(|g| g.as_str());
                if !gtin.is_some_and(|g| g.len() == 14 && g.bytes().all(|b| b.is_ascii_digit())) {
                    errors.push((format!("products[{i}].gtin"), "должно состоять из 14 цифр"));
                }
                match p.get("quantity").and_then(|q| q.as_i64()) {
                    None => {
                        errors.push((format!("products[{i}].quantity"), "не должно быть пустым"))
                    }
                    Some(q) if q < 1 => {
                        errors.push((format!("products[{i}].quantity"), "должно быть не меньше 1"))
                    }
                    Some(_) => {}
                }
                let kind = p.get("serialNumberType").and_then(|t| t.as_str());
                if !matches!(kind, Some("SELF_MADE" | "OPERATOR")) {
                    errors.push((
                        format!("products[{i}].serialNumberType"),
                        "должно быть SELF_MADE или OPERATOR",
                    ));
                }
                if p.get("templateId").and_then(|t| t.as_i64()).is_none() {
                    errors.push((format!("products[{i}].templateId"), "не должно быть пустым"));
                }
            }
        }
        _ => errors.push(("products".into(), "должен быть указан хотя бы один товар")),
    }
    if errors.is_empty() {
        return None;
    }
    let field_errors: Vec<serde_json::Value> = errors
        .into_iter()
        .map(|(name, why)| json!({"fieldName": name, "fieldError": why}))
        .collect();
    Some(json_reply(
        400,
        json!({"fieldErrors": field_errors, "globalErrors": [], "success": false}),
    ))
}

/// API 2's `expectedCompleteTimestamp`: the wait the public traces of 2021 show.
pub(crate) const V2_ORDER_WAIT_MS: u64 = 120_000;

/// The protected SUZ calls: `clientToken` must be the live token of an installation of the
/// SUZ named by `omsId` (compared exactly).
pub(crate) fn suz_call(state: &State, req: &Request, endpoint: Endpoint, v3: bool) -> Reply {
    let oms_id = &oms_id_param(req);
    // API 2's `/version` answers without an omsId (a public trace of 2021: 200 to
    // `GET /api/v2/milk/version` with a clientToken only); given, it is checked as elsewhere.
    let version_only = endpoint == Endpoint::SuzVersion && !v3 && req.query("omsId").is_none();
    {
        let s = state.lock();
        let Some(token) = req.header("clientToken") else {
            if !known_oms_id(&s, oms_id) {
                return unknown_oms_id(oms_id);
            }
            return suz_error(401, 401, "clientToken is missing");
        };
        let now = now_ms();
        match s.live_token(token) {
            Some((connection, t)) if t.expires_at_ms > now => {
                let bound = s.connections.get(connection).map(|i| i.oms_id.as_str());
                if bound != Some(oms_id) && !version_only {
                    return token_oms_mismatch(token, oms_id);
                }
            }
            found => {
                if !known_oms_id(&s, oms_id) && !version_only {
                    return unknown_oms_id(oms_id);
                }
                return match found {
                    Some(_) => suz_error(401, 401, "the clientToken has expired"),
                    None => match s.revoked.get(token) {
                        Some(r) => suz_error(401, 401, &format!("the clientToken was {}", r.why())),
                        None => suz_error(401, 401, "unknown clientToken"),
                    },
                };
            }
        }
    }
    let version = format!("suz-emulator {}", env!("CARGO_PKG_VERSION"));
    match endpoint {
        Endpoint::SuzVersion => {
            json_reply(200, json!({"apiVersion": "2.0.0", "omsVersion": version}))
        }
        Endpoint::SuzOrders if v3 => {
            // 3.0: the product group in the body; the answer's wait in milliseconds (Table 69).
            if let Some(refused) = refuse_order(state, req, true) {
                return refused;
            }
            json_reply(
                200,
                json!({"omsId": oms_id, "orderId": uuid::Uuid::new_v4().to_string(),
                       "expectedCompleteTimestamp": 5100}),
            )
        }
        Endpoint::SuzOrders => {
            if let Some(refused) = refuse_order(state, req, false) {
                return refused;
            }
            // A wait in milliseconds, not a time: `120000` in every public API 2 trace.
            json_reply(
                200,
                json!({"omsId": oms_id, "orderId": uuid::Uuid::new_v4().to_string(),
                       "expectedCompleteTimestamp": V2_ORDER_WAIT_MS}),
            )
        }
        // 3.0's ping (§4.4.25) names the versions too; API 2's answers `{omsId}` only.
        _ if v3 => json_reply(
            200,
            json!({"omsId": oms_id, "apiVersion": "2.0.0", "omsVersion": version}),
        ),
        _ => json_reply(200, json!({ "omsId": oms_id })),
    }
}
