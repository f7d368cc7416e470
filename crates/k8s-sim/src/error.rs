//! API errors as real `Status` objects.
//!
//! Clients branch on `code` and `reason` (kube-rs `ErrorResponse`, kubectl's `IsNotFound`,
//! `IsConflict`), so every failure the simulator returns is a `kind: Status` body with the HTTP
//! code, the reason string the real server uses and `details` naming the object.

use serde_json::{Value, json};

use crate::resources::ResourceDef;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    fn with(
        code: u16,
        reason: &'static str,
        message: String,
        res: Option<&ResourceDef>,
        name: &str,
    ) -> Self {
        let mut details = json!({});
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        if let Some(r) = res {
            if !r.group.is_empty() {
                details["group"] = json!(r.group);
            }
            details["kind"] = json!(r.plural);
        }
        ApiError {
            code,
            reason,
            message,
            details,
        }
    }

    pub fn not_found(res: &ResourceDef, name: &str) -> Self {
        Self::with(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(res)),
            Some(res),
            name,
        )
    }

    pub fn already_exists(res: &ResourceDef, name: &str) -> Self {
        Self::with(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(res)),
            Some(res),
            name,
        )
    }

    pub fn conflict(res: &ResourceDef, name: &str, why: &str) -> Self {
        Self::with(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(res)
            ),
            Some(res),
            name,
        )
    }

    pub fn invalid(res: &ResourceDef, name: &str, why: &str) -> Self {
        Self::with(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {why}", res.kind),
            Some(res),
            name,
        )
    }

    /// An admission plugin's refusal (apiserver `admission.NewForbidden`).
    pub fn forbidden(res: &ResourceDef, name: &str, why: &str) -> Self {
        Self::with(
            403,
            "Forbidden",
            format!("{} \"{name}\" is forbidden: {why}", qualified(res)),
            Some(res),
            name,
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::with(400, "BadRequest", message.into(), None, "")
    }

    pub fn unsupported_media(ct: &str) -> Self {
        Self::with(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct:?})"
            ),
            None,
            "",
        )
    }

    pub fn method_not_allowed(what: &str) -> Self {
        Self::with(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({what})"),
            None,
            "",
        )
    }

    pub fn path_not_found(path: &str) -> Self {
        Self::with(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
            None,
            "",
        )
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::with(410, "Expired", message.into(), None, "")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::with(500, "InternalError", message.into(), None, "")
    }

    pub fn status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        })
    }
}

fn qualified(res: &ResourceDef) -> String {
    if res.group.is_empty() {
        res.plural.to_string()
    } else {
        format!("{}.{}", res.plural, res.group)
    }
}
