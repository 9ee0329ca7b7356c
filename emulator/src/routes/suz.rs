//! SUZ: installation registration and the protected API (`clientToken`, `omsId`).

use serde_json::json;

use super::common::*;
use crate::faults::Endpoint;
use crate::reply::*;
use crate::server::{Reply, Request};
use crate::state::{now_ms, Inner, Installation, State};

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
    let oms_id = req.query("omsId").unwrap_or("").to_owned();
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

/// The protected SUZ calls: `clientToken` must be the live token of an installation of the
/// SUZ named by `omsId` (compared exactly).
pub(crate) fn suz_call(state: &State, req: &Request, endpoint: Endpoint, v3: bool) -> Reply {
    let oms_id = req.query("omsId").unwrap_or("");
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
                if bound != Some(oms_id) {
                    return suz_error(400, 1140, TOKEN_OMS_MISMATCH);
                }
            }
            found => {
                if !known_oms_id(&s, oms_id) {
                    return unknown_oms_id(oms_id);
                }
                return match found {
                    Some(_) => suz_error(401, 401, "the clientToken has expired"),
                    None if s.revoked.contains(token) => {
                        suz_error(401, 401, "the clientToken was revoked by a newer token")
                    }
                    None => suz_error(401, 401, "unknown clientToken"),
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
            let body = body_json(req).unwrap_or_default();
            if str_field(&body, "productGroup").is_none() {
                return suz_error(400, 400, "productGroup: required");
            }
            if body["products"].as_array().is_none_or(Vec::is_empty) {
                return suz_error(400, 400, "products: at least one product is required");
            }
            json_reply(
                200,
                json!({"omsId": oms_id, "orderId": uuid::Uuid::new_v4().to_string(),
                       "expectedCompleteTimestamp": 5100}),
            )
        }
        Endpoint::SuzOrders => {
            let products = body_json(req)
                .and_then(|b| b.get("products").cloned())
                .and_then(|p| p.as_array().cloned())
                .unwrap_or_default();
            if products.is_empty() {
                return suz_error(400, 400, "products: at least one product is required");
            }
            json_reply(
                200,
                json!({"omsId": oms_id, "orderId": uuid::Uuid::new_v4().to_string(),
                       "expectedCompleteTimestamp": now_ms() + 60_000}),
            )
        }
        _ => json_reply(
            200,
            json!({"omsId": oms_id, "apiVersion": "2.0.0", "omsVersion": version}),
        ),
    }
}
