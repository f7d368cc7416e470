//! A signed-in session with Onyx v2.3.0's HTTP API through the gateway, one method per call
//! [`super::configure`] makes, and how an answer that is not a success reads in an error
//! ([`detail`]: FastAPI's `detail`, else an HTML page's title).
//!
//! The calls, as Onyx v2.3.0 serves them under `/api`:
//! - `POST /auth/register` (JSON) and `POST /auth/login` (form, `username` = e-mail): fastapi-users'
//!   register and auth routers (backend/onyx/main.py, prefix `/auth`; fastapi-users 14.0.1 per
//!   backend/requirements/default.txt); a 400 with detail `REGISTER_USER_ALREADY_EXISTS` or
//!   `LOGIN_BAD_CREDENTIALS` (fastapi-users' `ErrorCode`; Onyx's `UserManager.create` in
//!   backend/onyx/auth/users.py raises the `UserAlreadyExists` behind the first) is an answer, not
//!   a failure; the login sets the cookie `fastapiusersauth` (backend/onyx/configs/constants.py
//!   `FASTAPI_USERS_AUTH_COOKIE_NAME`). fastapi-users' own source was not read here;
//! - `GET /me` → the user's `role` (backend/onyx/server/manage/users.py);
//! - `GET /admin/llm/provider`, `PUT /admin/llm/provider?is_creation=…` (refused when
//!   `is_creation` disagrees with whether the name exists) and
//!   `POST /admin/llm/provider/{id}/default` (backend/onyx/server/manage/llm/api.py).

use std::time::Duration;

use serde::Deserialize;

use super::{AdminLogin, LlmError, ProviderRequest};

/// Onyx's session cookie (`FASTAPI_USERS_AUTH_COOKIE_NAME`).
pub const SESSION_COOKIE: &str = "fastapiusersauth";

/// A session with Onyx's API through the gateway (`base_url` = what the browser opens).
pub(super) struct Session {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

/// The part of Onyx's `LLMProviderView` onyx reads.
#[derive(Deserialize)]
pub(super) struct ProviderView {
    pub(super) id: i64,
    pub(super) name: String,
}

impl Session {
    /// A session not signed in yet; each request bounded to 30 s.
    pub(super) fn new(base_url: &str) -> Result<Session, LlmError> {
        let http =
            crate::http::client(Duration::from_secs(30)).map_err(|e| LlmError::Unreachable {
                url: base_url.into(),
                action: "building an HTTP client".into(),
                error: e.to_string(),
            })?;
        Ok(Session {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            cookie: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api{path}", self.base)
    }

    async fn send(
        &self,
        action: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LlmError> {
        let req = match &self.cookie {
            Some(c) => req.header(reqwest::header::COOKIE, format!("{SESSION_COOKIE}={c}")),
            None => req,
        };
        req.send().await.map_err(|e| LlmError::Unreachable {
            url: self.base.clone(),
            action: action.into(),
            error: crate::http::describe_error(&e),
        })
    }

    /// The answer if 2xx; otherwise a [`LlmError::Rejected`] with Onyx's `detail`.
    async fn ok(&self, action: &str, resp: reqwest::Response) -> Result<String, LlmError> {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(body);
        }
        Err(LlmError::Rejected {
            url: self.base.clone(),
            action: action.into(),
            status: status.as_u16(),
            detail: detail(&body),
        })
    }

    pub(super) async fn register(&self, login: &AdminLogin) -> Result<Registered, LlmError> {
        let action = "registering the admin user";
        let body = serde_json::json!({"email": login.email, "password": login.password});
        let resp = self
            .send(
                action,
                self.http.post(self.url("/auth/register")).json(&body),
            )
            .await?;
        if resp.status() == reqwest::StatusCode::BAD_REQUEST {
            let text = resp.text().await.unwrap_or_default();
            if detail(&text) == "REGISTER_USER_ALREADY_EXISTS" {
                return Ok(Registered::AlreadyExists);
            }
            return Err(LlmError::Rejected {
                url: self.base.clone(),
                action: action.into(),
                status: 400,
                detail: detail(&text),
            });
        }
        self.ok(action, resp).await?;
        Ok(Registered::Created)
    }

    /// Log in; `Ok(false)` for wrong credentials.
    pub(super) async fn login(&mut self, login: &AdminLogin) -> Result<bool, LlmError> {
        let action = "logging in";
        let form = [
            ("username", login.email.as_str()),
            ("password", login.password.as_str()),
        ];
        let resp = self
            .send(action, self.http.post(self.url("/auth/login")).form(&form))
            .await?;
        if resp.status() == reqwest::StatusCode::BAD_REQUEST {
            let text = resp.text().await.unwrap_or_default();
            if detail(&text) == "LOGIN_BAD_CREDENTIALS" {
                return Ok(false);
            }
            return Err(LlmError::Rejected {
                url: self.base.clone(),
                action: action.into(),
                status: 400,
                detail: detail(&text),
            });
        }
        let cookie = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                let pair = v.split(';').next()?.trim();
                let (name, value) = pair.split_once('=')?;
                (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_string())
            });
        self.ok(action, resp).await?;
        match cookie {
            Some(c) => {
                self.cookie = Some(c);
                Ok(true)
            }
            None => Err(LlmError::Rejected {
                url: self.base.clone(),
                action: action.into(),
                status: 200,
                detail: format!("no {SESSION_COOKIE} cookie in the answer"),
            }),
        }
    }

    pub(super) async fn role(&self) -> Result<String, LlmError> {
        let action = "reading the signed-in user";
        let resp = self.send(action, self.http.get(self.url("/me"))).await?;
        let body = self.ok(action, resp).await?;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(v["role"].as_str().unwrap_or_default().to_string())
    }

    pub(super) async fn providers(&self) -> Result<Vec<ProviderView>, LlmError> {
        let action = "listing LLM providers";
        let resp = self
            .send(action, self.http.get(self.url("/admin/llm/provider")))
            .await?;
        let body = self.ok(action, resp).await?;
        serde_json::from_str(&body).map_err(|e| LlmError::Rejected {
            url: self.base.clone(),
            action: action.into(),
            status: 200,
            detail: format!("unexpected answer: {e}"),
        })
    }

    pub(super) async fn upsert(
        &self,
        req: &ProviderRequest,
        create: bool,
    ) -> Result<ProviderView, LlmError> {
        let action = format!("saving LLM provider {}", req.name);
        let url = format!("{}?is_creation={create}", self.url("/admin/llm/provider"));
        let resp = self.send(&action, self.http.put(url).json(req)).await?;
        let body = self.ok(&action, resp).await?;
        serde_json::from_str(&body).map_err(|e| LlmError::Rejected {
            url: self.base.clone(),
            action,
            status: 200,
            detail: format!("unexpected answer: {e}"),
        })
    }

    pub(super) async fn make_default(&self, id: i64) -> Result<(), LlmError> {
        let action = "making the provider the default";
        let url = self.url(&format!("/admin/llm/provider/{id}/default"));
        let resp = self.send(action, self.http.post(url)).await?;
        self.ok(action, resp).await.map(|_| ())
    }
}

/// What registering the admin user found.
pub(super) enum Registered {
    Created,
    AlreadyExists,
}

/// FastAPI's `{"detail": "..."}` (or a list of validation errors), else the body itself: an HTML
/// page (a proxy's or the gateway's error page, not Onyx's API answering) by its title, and any
/// text cut at a word, never mid-word.
fn detail(body: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(o)) => match o.get("detail") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Object(d)) if d.contains_key("reason") => {
                d["reason"].as_str().unwrap_or_default().to_string()
            }
            Some(other) => other.to_string(),
            None => body.to_string(),
        },
        _ => match html_title(body) {
            Some(title) => format!("an HTML page, \"{title}\" (not Onyx's API answering)"),
            None if looks_like_html(body) => "an HTML page (not Onyx's API answering)".into(),
            None => body.to_string(),
        },
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "(no detail)".into()
    } else {
        cut_at_word(&text, 200)
    }
}

fn looks_like_html(body: &str) -> bool {
    let head = body
        .trim_start()
        .get(..64.min(body.trim_start().len()))
        .unwrap_or("");
    let head = head.to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<head")
}

/// The `<title>` (else the first `<h1>`) of an HTML page.
fn html_title(body: &str) -> Option<String> {
    if !looks_like_html(body) {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    for (open, close) in [("<title", "</title>"), ("<h1", "</h1>")] {
        if let Some(start) = lower.find(open)
            && let Some(gt) = lower[start..].find('>')
            && let Some(end) = lower[start + gt..].find(close)
        {
            let inner = &body[start + gt + 1..start + gt + end];
            let inner = inner.split_whitespace().collect::<Vec<_>>().join(" ");
            if !inner.is_empty() {
                return Some(inner);
            }
        }
    }
    None
}

/// At most `max` characters, cut after the last whole word, with "…" when cut.
fn cut_at_word(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    let cut = head.rfind(' ').filter(|i| *i > 0).unwrap_or(head.len());
    format!("{}…", head[..cut].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastapi_detail_is_extracted() {
        assert_eq!(
            detail(r#"{"detail":"LOGIN_BAD_CREDENTIALS"}"#),
            "LOGIN_BAD_CREDENTIALS"
        );
        assert_eq!(
            detail(r#"{"detail":{"code":"REGISTER_INVALID_PASSWORD","reason":"too short"}}"#),
            "too short"
        );
        assert_eq!(detail("Bad Gateway"), "Bad Gateway");
        // A proxy's error page: its title, not a page of markup cut mid-word.
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>{}</body></html>",
            "<p>lorem ipsum</p>".repeat(100)
        );
        assert_eq!(
            detail(&page),
            "an HTML page, \"502 Bad Gateway\" (not Onyx's API answering)"
        );
        assert_eq!(
            detail("<html><body><h1> Service\n Unavailable </h1></body></html>"),
            "an HTML page, \"Service Unavailable\" (not Onyx's API answering)"
        );
        // Long text is cut after a whole word.
        let long = "word ".repeat(100);
        let d = detail(&long);
        assert!(d.ends_with("word…") && d.chars().count() <= 201, "{d}");
        assert_eq!(detail(""), "(no detail)");
    }
}
