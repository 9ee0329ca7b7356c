//! What the services say when they refuse: their error bodies, read into the server's code and
//! text that every error carries (`suz_last_server_code`, `suz_last_server_message`). This is
//! service knowledge, so it lives with the flows; the transport knows HTTP only.
//!
//! The shapes, by service:
//!
//! - SUZ: `{globalErrors: [{error, errorCode}]}` (and `{success: false, …}` around it);
//! - GIS MT and True API: `{code, error_message, description}`;
//! - MDLP: `{error_code, error_description}`;
//! - SmartMarket: `{code, message}` (OAuth) and `{errors: [{key, message}]}`.
//!
//! Every answer is read against all of them, not only its own service's: a gateway or a
//! service answering for another (the SUZ's sign-in in front of GIS MT, a proxy) sends
//! whichever shape it has, and an error must not lose its text to a guess.

use serde_json::Value;

use crate::transport::{status_error_with, Response};

/// Reads the error code and text out of every error shape the CRPT and Sber services use:
/// `{code,error_message,description}`, `{error_code,error_description}`,
/// `{globalErrors:[{error,errorCode}]}`, `{code,message}`, `{errors:[{key,message}]}`.
pub fn server_error_fields(v: &Value) -> (Option<String>, Option<String>) {
    fn text(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) if !s.trim().is_empty() => {
                Some(crate::error::bounded(s.trim().to_owned()))
            }
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    if let Some(first) = v
        .get("globalErrors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let message = text(first.get("error")).or_else(|| text(first.get("message")));
        return (text(first.get("errorCode")), message);
    }
    // SUZ's field errors (`{fieldErrors: [{fieldName, fieldError, errorCode?}], globalErrors: []}`):
    // every field named, since a refused order usually lacks several.
    if let Some(fields) = v
        .get("fieldErrors")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let listed: Vec<String> = fields
            .iter()
            .filter_map(|f| {
                let why = text(f.get("fieldError"))?;
                Some(match text(f.get("fieldName")) {
                    Some(name) => format!("{name}: {why}"),
                    None => why,
                })
            })
            .collect();
        let code = fields.iter().find_map(|f| text(f.get("errorCode")));
        let message = (!listed.is_empty()).then(|| crate::error::bounded(listed.join("; ")));
        return (code, message);
    }
    if let Some(first) = v
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return (
            text(first.get("key")).or_else(|| text(v.get("code"))),
            text(first.get("message")),
        );
    }
    if v.get("error_code").is_some() || v.get("error_description").is_some() {
        return (text(v.get("error_code")), text(v.get("error_description")));
    }
    let code = text(v.get("code")).or_else(|| text(v.get("error")));
    let message = match (text(v.get("error_message")), text(v.get("description"))) {
        (Some(m), Some(d)) if m != d => Some(format!("{m}: {d}")),
        (Some(m), _) => Some(m),
        (None, Some(d)) => Some(d),
        (None, None) => text(v.get("message")).or_else(|| text(v.get("error_description"))),
    };
    (code, message)
}

/// The error a non-2xx answer stands for, with the server's code and text from its body.
pub(crate) fn refusal(response: &Response) -> crate::error::Error {
    let (code, message) = match serde_json::from_str::<Value>(&response.scrubbed_text()) {
        Ok(v) => server_error_fields(&v),
        Err(_) => (None, None),
    };
    status_error_with(response, code, message)
}

/// The answer itself when it is a 2xx, else [`refusal`].
pub fn checked(response: &Response) -> crate::error::Result<&Response> {
    if response.is_success() {
        Ok(response)
    } else {
        Err(refusal(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn suz_field_errors_name_every_field() {
        let body = json!({"fieldErrors": [
            {"fieldName": "products[0].gtin", "fieldError": "должно состоять из 14 цифр"},
            {"fieldName": "products[0].templateId", "fieldError": "не должно быть пустым"}],
            "globalErrors": [], "success": false});
        let (code, message) = server_error_fields(&body);
        assert_eq!(code, None);
        assert_eq!(
            message.as_deref(),
            Some("products[0].gtin: должно состоять из 14 цифр; products[0].templateId: не должно быть пустым")
        );
        let body = json!({"fieldErrors": [{"errorCode": 3150, "fieldError": "Нельзя использовать шаблон 999",
            "fieldName": "products[0].templateId"}], "success": false});
        let (code, message) = server_error_fields(&body);
        assert_eq!(code.as_deref(), Some("3150"));
        assert_eq!(
            message.as_deref(),
            Some("products[0].templateId: Нельзя использовать шаблон 999")
        );
    }

    #[test]
    fn every_error_shape_is_read() {
        let cases = [
            (
                json!({"code":"4","error_message":"bad","description":"signature"}),
                "4",
                "bad: signature",
            ),
            (
                json!({"error_code":"7","error_description":"no such code"}),
                "7",
                "no such code",
            ),
            (
                json!({"globalErrors":[{"error":"revoked","errorCode":401}]}),
                "401",
                "revoked",
            ),
            (
                json!({"code":"SCOPE_DATA_FORMAT_INVALID","message":"scope"}),
                "SCOPE_DATA_FORMAT_INVALID",
                "scope",
            ),
            (
                json!({"code":401,"errors":[{"key":"UNAUTHORIZED","message":"exp"}]}),
                "UNAUTHORIZED",
                "exp",
            ),
        ];
        for (body, code, message) in cases {
            let (c, m) = server_error_fields(&body);
            assert_eq!(c.as_deref(), Some(code), "{body}");
            assert_eq!(m.as_deref(), Some(message), "{body}");
        }
    }

    #[test]
    fn empty_fields_are_absent_and_repeated_text_is_given_once() {
        let (c, m) = server_error_fields(&json!({"code": " ", "message": ""}));
        assert_eq!((c, m), (None, None));
        let (_, m) = server_error_fields(&json!({"error_message": "same", "description": "same"}));
        assert_eq!(m.as_deref(), Some("same"));
        let (c, m) = server_error_fields(&json!({"error_description": "d"}));
        assert_eq!((c, m.as_deref()), (None, Some("d")));
    }
}
