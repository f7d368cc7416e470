//! Gives a fresh Onyx an LLM provider, so chat answers right after `onyx up` (none exists on a
//! fresh install). Everything goes through Onyx v2.3.0's own HTTP API behind the gateway, as the
//! admin UI does it.
//!
//! Steps ([`configure`]):
//! 1. build the provider from the user's choice ([`provider_request`]): an OpenAI-compatible URL
//!    (vLLM), the host's Ollama, or OpenAI with a key read from an environment variable (never
//!    printed, never logged);
//! 2. sign in as onyx's admin user: its e-mail and generated password live in the Kubernetes
//!    Secret `onyx-admin` ([`AdminStore`]). The first run creates the Secret *before* registering,
//!    so the password can't be lost; Onyx makes the first registered user an admin
//!    (`UserManager.create`: `user_count == 0` → ADMIN). `POST /api/auth/register` (JSON), then
//!    `POST /api/auth/login` (form) → cookie `fastapiusersauth`; `GET /api/me` must say `admin`;
//! 3. `PUT /api/admin/llm/provider?is_creation=…` (create, or update the provider of the same
//!    name: re-runs are idempotent), then `POST /api/admin/llm/provider/{id}/default`.
//!
//! If someone registered before onyx did, they are the admin and onyx's user is not: onyx stops
//! with an error that says to set the provider in the UI (Admin → LLM) instead.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::RngExt;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

/// The Secret holding onyx's admin login (keys `email`, `password`).
pub const ADMIN_SECRET: &str = "onyx-admin";
/// The e-mail of the admin user onyx registers. Onyx validates e-mails with email-validator,
/// which refuses reserved names such as `.local`, so an example.com address is used.
pub const ADMIN_EMAIL: &str = "admin@onyx.example.com";
/// Onyx's session cookie (`FASTAPI_USERS_AUTH_COOKIE_NAME`).
pub const SESSION_COOKIE: &str = "fastapiusersauth";
/// Where the host's Ollama listens (its default).
pub const OLLAMA_PORT: u16 = 11434;
/// The provider names onyx uses in Onyx, one per kind of choice; a re-run updates its own.
const NAME_OPENAI_COMPATIBLE: &str = "onyx-openai-compatible";
const NAME_OLLAMA: &str = "onyx-ollama";
const NAME_OPENAI: &str = "onyx-openai";

/// Errors of configuring the provider.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("environment variable {var} (named by --openai-api-key-env) is not set or empty")]
    KeyEnvMissing { var: String },

    #[error("--llm-url {url:?} is not an http(s) URL")]
    BadUrl { url: String },

    #[error("{what} needs a model name")]
    ModelMissing { what: String, hint: String },

    #[error("Onyx's API at {url} refused {action}: HTTP {status}: {detail}")]
    Rejected {
        url: String,
        action: String,
        status: u16,
        detail: String,
    },

    #[error("Onyx's API at {url} did not answer ({action}): {error}")]
    Unreachable {
        url: String,
        action: String,
        error: String,
    },

    #[error(
        "the user {email} is not an Onyx admin (someone else registered first and is the admin)"
    )]
    NotAdmin { email: String },

    #[error("an Onyx user {email} exists, but its password is not the one in Secret {secret}")]
    LostPassword { email: String, secret: String },

    #[error("Secret {secret}: {message}")]
    Store { secret: String, message: String },
}

impl LlmError {
    /// The kind of failure (its exit code): the flags' mistakes are usage errors.
    pub fn class(&self) -> crate::exit::Class {
        match self {
            LlmError::KeyEnvMissing { .. }
            | LlmError::BadUrl { .. }
            | LlmError::ModelMissing { .. } => crate::exit::Class::Usage,
            _ => crate::exit::Class::Refused,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            LlmError::KeyEnvMissing { var } => {
                format!("export {var}=<your OpenAI API key>, or name another variable with --openai-api-key-env")
            }
            LlmError::BadUrl { .. } => {
                "give the base URL of an OpenAI-compatible API, e.g. http://vllm-service.ai-services:8001/v1".into()
            }
            LlmError::ModelMissing { hint, .. } => hint.clone(),
            LlmError::Rejected { .. } | LlmError::Unreachable { .. } => {
                "the stack is up; set the provider in the UI instead (Admin → LLM), or re-run \
                 `onyx up` with the same LLM flags (and --forward on a cluster onyx did not \
                 make) once `onyx status` is healthy"
                    .into()
            }
            LlmError::NotAdmin { .. } => {
                "log in as the admin who registered first and set the provider in the UI \
                 (Admin → LLM)"
                    .into()
            }
            LlmError::LostPassword { secret, .. } => format!(
                "set the provider in the UI (Admin → LLM), or reset that user's password and \
                 store it in Secret {secret} (key `password`)"
            ),
            LlmError::Store { .. } => return None,
        })
    }
}

/// What the user asked for (`up`'s LLM flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmChoice {
    /// An OpenAI-compatible API reachable from the cluster (vLLM, LiteLLM, LocalAI, …).
    OpenAiCompatible { url: String, model: Option<String> },
    /// Ollama on the user's machine.
    Ollama { model: Option<String> },
    /// OpenAI itself, the key read from this environment variable.
    OpenAi {
        key_env: String,
        model: Option<String>,
    },
}

/// The body of `PUT /api/admin/llm/provider` (Onyx's `LLMProviderUpsertRequest`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRequest {
    pub name: String,
    /// litellm's provider: `openai` (also for OpenAI-compatible servers) or `ollama_chat`.
    pub provider: String,
    pub api_key: Option<String>,
    pub api_base: Option<String>,
    pub default_model_name: String,
    pub fast_default_model_name: Option<String>,
    pub is_public: bool,
    pub groups: Vec<i64>,
    /// True when `api_key` carries a new key (Onyx keeps the stored key otherwise).
    pub api_key_changed: bool,
    pub model_configurations: Vec<ModelConfiguration>,
}

// Hand-written so the key never reaches a log or an error message.
impl std::fmt::Debug for ProviderRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRequest")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_base", &self.api_base)
            .field("default_model_name", &self.default_model_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfiguration {
    pub name: String,
    pub is_visible: bool,
}

/// How pods reach the host's Ollama. `node_gateway` is the gateway of the Docker network the
/// cluster's node runs in, when onyx knows it (its own cluster on Linux).
///
/// On Docker Desktop, OrbStack, Colima and Podman machines, `host.docker.internal` resolves from
/// containers (and from pods, whose DNS forwards to the node's resolver) to the host. A native
/// Linux engine has no such name unless a container is started with `--add-host`, and CoreDNS
/// would not see that entry anyway; there the host is the network's gateway address (e.g.
/// 172.18.0.1 on kind's network). On Linux Ollama must then listen beyond 127.0.0.1
/// (`OLLAMA_HOST=0.0.0.0`).
pub fn ollama_url(linux_native_engine: bool, node_gateway: Option<&str>) -> String {
    match (linux_native_engine, node_gateway) {
        (true, Some(gw)) if !gw.is_empty() => format!("http://{gw}:{OLLAMA_PORT}"),
        _ => format!("http://host.docker.internal:{OLLAMA_PORT}"),
    }
}

/// Build the provider for `choice`. `ollama_base` is where pods reach Ollama ([`ollama_url`]);
/// `env` reads environment variables (the process's, or a test's).
pub fn provider_request(
    choice: &LlmChoice,
    ollama_base: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<ProviderRequest, LlmError> {
    let single =
        |name: &str, provider: &str, model: String, base, key: Option<String>| ProviderRequest {
            name: name.into(),
            provider: provider.into(),
            api_key_changed: key.is_some(),
            api_key: key,
            api_base: base,
            model_configurations: vec![ModelConfiguration {
                name: model.clone(),
                is_visible: true,
            }],
            default_model_name: model,
            fast_default_model_name: None,
            is_public: true,
            groups: vec![],
        };
    match choice {
        LlmChoice::OpenAiCompatible { url, model } => {
            let trimmed = url.trim().trim_end_matches('/');
            let scheme_ok = trimmed.starts_with("http://") || trimmed.starts_with("https://");
            if !scheme_ok
                || trimmed
                    .split_once("://")
                    .is_none_or(|(_, rest)| rest.is_empty())
            {
                return Err(LlmError::BadUrl { url: url.clone() });
            }
            let model = model.clone().ok_or_else(|| LlmError::ModelMissing {
                what: "--llm-url".into(),
                hint: format!(
                    "add --llm-model NAME: the model the server serves (`curl {trimmed}/models` \
                     lists them)"
                ),
            })?;
            // litellm's OpenAI client refuses to run without a key; servers started without
            // one (vLLM's default) accept any value.
            Ok(single(
                NAME_OPENAI_COMPATIBLE,
                "openai",
                model,
                Some(trimmed.to_string()),
                Some("unused".into()),
            ))
        }
        LlmChoice::Ollama { model } => {
            let model = model.clone().ok_or_else(|| LlmError::ModelMissing {
                what: "--llm ollama".into(),
                hint: "add --llm-model NAME: a model Ollama has pulled (`ollama list`)".into(),
            })?;
            Ok(single(
                NAME_OLLAMA,
                "ollama_chat",
                model,
                Some(ollama_base.trim_end_matches('/').to_string()),
                None,
            ))
        }
        LlmChoice::OpenAi { key_env, model } => {
            let key = env(key_env)
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| LlmError::KeyEnvMissing {
                    var: key_env.clone(),
                })?;
            let model = model.clone().unwrap_or_else(|| "gpt-4o".into());
            let mut req = single(NAME_OPENAI, "openai", model, None, Some(key.trim().into()));
            // Onyx's own default pair for OpenAI.
            if req.default_model_name == "gpt-4o" {
                req.fast_default_model_name = Some("gpt-4o-mini".into());
                req.model_configurations.push(ModelConfiguration {
                    name: "gpt-4o-mini".into(),
                    is_visible: true,
                });
            }
            Ok(req)
        }
    }
}

/// The admin login onyx keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminLogin {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for AdminLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminLogin")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl AdminLogin {
    /// A new login with a 32-character random password (letters and digits, so it passes any
    /// of Onyx's optional password rules except a required special character; `!` is appended
    /// for that one).
    pub fn generate() -> AdminLogin {
        let mut rng = rand::rng();
        let mut password: String = (0..32).map(|_| rng.sample(Alphanumeric) as char).collect();
        // Guarantee every class Onyx can be configured to require.
        password.push_str("aA1!");
        AdminLogin {
            email: ADMIN_EMAIL.into(),
            password,
        }
    }
}

/// Where the admin login is kept: the `onyx-admin` Secret in the stack's namespace
/// ([`SecretStore`]), or anything a test provides.
pub trait AdminStore {
    fn load(&self) -> impl Future<Output = Result<Option<AdminLogin>, LlmError>> + Send;
    /// Store a new login; must fail rather than overwrite an existing one.
    fn create(&self, login: &AdminLogin) -> impl Future<Output = Result<(), LlmError>> + Send;
}

/// The `onyx-admin` Secret, read and created through the Kubernetes API.
pub struct SecretStore {
    secrets: ::kube::Api<k8s_openapi::api::core::v1::Secret>,
}

impl SecretStore {
    pub fn new(client: ::kube::Client, namespace: &str) -> SecretStore {
        SecretStore {
            secrets: ::kube::Api::namespaced(client, namespace),
        }
    }
}

fn store_error(e: impl std::fmt::Display) -> LlmError {
    LlmError::Store {
        secret: ADMIN_SECRET.into(),
        message: e.to_string(),
    }
}

impl AdminStore for SecretStore {
    async fn load(&self) -> Result<Option<AdminLogin>, LlmError> {
        let Some(secret) = self
            .secrets
            .get_opt(ADMIN_SECRET)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let value = |key: &str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .or_else(|| {
                    secret
                        .string_data
                        .as_ref()
                        .and_then(|d| d.get(key))
                        .cloned()
                })
        };
        match (value("email"), value("password")) {
            (Some(email), Some(password)) if !email.is_empty() && !password.is_empty() => {
                Ok(Some(AdminLogin { email, password }))
            }
            _ => Err(store_error(
                "exists but lacks the keys `email` and `password`",
            )),
        }
    }

    async fn create(&self, login: &AdminLogin) -> Result<(), LlmError> {
        use k8s_openapi::ByteString;
        let secret = k8s_openapi::api::core::v1::Secret {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(ADMIN_SECRET.into()),
                labels: Some(BTreeMap::from([
                    ("app.kubernetes.io/part-of".into(), "onyx".into()),
                    ("app.kubernetes.io/managed-by".into(), "onyx".into()),
                ])),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([
                ("email".into(), ByteString(login.email.clone().into_bytes())),
                (
                    "password".into(),
                    ByteString(login.password.clone().into_bytes()),
                ),
            ])),
            ..Default::default()
        };
        self.secrets
            .create(&::kube::api::PostParams::default(), &secret)
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

/// What [`configure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub provider_id: i64,
    pub name: String,
    pub model: String,
    /// False when a provider of that name existed and was updated.
    pub created: bool,
    /// True when onyx registered its admin user in this run.
    pub registered_admin: bool,
}

/// A session with Onyx's API through the gateway (`base_url` = what the browser opens).
struct Session {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

#[derive(Deserialize)]
struct ProviderView {
    id: i64,
    name: String,
}

impl Session {
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
            error: crate::kube::forward::describe_reqwest(&e),
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

    async fn register(&self, login: &AdminLogin) -> Result<Registered, LlmError> {
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
    async fn login(&mut self, login: &AdminLogin) -> Result<bool, LlmError> {
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

    async fn role(&self) -> Result<String, LlmError> {
        let action = "reading the signed-in user";
        let resp = self.send(action, self.http.get(self.url("/me"))).await?;
        let body = self.ok(action, resp).await?;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(v["role"].as_str().unwrap_or_default().to_string())
    }

    async fn providers(&self) -> Result<Vec<ProviderView>, LlmError> {
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

    async fn upsert(&self, req: &ProviderRequest, create: bool) -> Result<ProviderView, LlmError> {
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

    async fn make_default(&self, id: i64) -> Result<(), LlmError> {
        let action = "making the provider the default";
        let url = self.url(&format!("/admin/llm/provider/{id}/default"));
        let resp = self.send(action, self.http.post(url)).await?;
        self.ok(action, resp).await.map(|_| ())
    }
}

enum Registered {
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

/// Sign in as onyx's admin (registering it on the first run) and make `request` the default
/// provider. `base_url` is the gateway (e.g. `http://localhost:3000`); the API must be ready.
pub async fn configure(
    base_url: &str,
    request: &ProviderRequest,
    store: &impl AdminStore,
) -> Result<Configured, LlmError> {
    // reqwest has no crypto provider of its own (see Cargo.toml): the process-wide one.
    crate::init_tls();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .map_err(|e| LlmError::Unreachable {
            url: base_url.into(),
            action: "building an HTTP client".into(),
            error: e.to_string(),
        })?;
    let mut session = Session {
        http,
        base: base_url.trim_end_matches('/').to_string(),
        cookie: None,
    };

    // 2. Sign in; the Secret is written before the user exists, so its password is never lost.
    let mut registered_admin = false;
    let login = match store.load().await? {
        Some(login) => login,
        None => {
            let login = AdminLogin::generate();
            if let Err(e) = store.create(&login).await {
                // Another run created it meanwhile: use that one.
                match store.load().await? {
                    Some(existing) => existing,
                    None => return Err(e),
                }
            } else {
                login
            }
        }
    };
    if !session.login(&login).await? {
        // Not registered yet (first run, or a run stopped between the Secret and the register).
        match session.register(&login).await? {
            Registered::Created => registered_admin = true,
            Registered::AlreadyExists => {
                return Err(LlmError::LostPassword {
                    email: login.email,
                    secret: ADMIN_SECRET.into(),
                });
            }
        }
        if !session.login(&login).await? {
            return Err(LlmError::LostPassword {
                email: login.email,
                secret: ADMIN_SECRET.into(),
            });
        }
    }
    if session.role().await? != "admin" {
        return Err(LlmError::NotAdmin { email: login.email });
    }

    // 3. Create or update the provider, then make it the default.
    let existing = session
        .providers()
        .await?
        .into_iter()
        .find(|p| p.name == request.name);
    let saved = session.upsert(request, existing.is_none()).await?;
    session.make_default(saved.id).await?;
    Ok(Configured {
        provider_id: saved.id,
        name: saved.name,
        model: request.default_model_name.clone(),
        created: existing.is_none(),
        registered_admin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn openai_compatible_needs_a_url_and_a_model() {
        let choice = LlmChoice::OpenAiCompatible {
            url: "http://vllm-service.ai-services:8001/v1/".into(),
            model: Some("Qwen/Qwen2.5-7B-Instruct".into()),
        };
        let req = provider_request(&choice, "unused", no_env).unwrap();
        assert_eq!(req.provider, "openai");
        assert_eq!(
            req.api_base.as_deref(),
            Some("http://vllm-service.ai-services:8001/v1")
        );
        assert_eq!(req.default_model_name, "Qwen/Qwen2.5-7B-Instruct");
        assert_eq!(req.model_configurations.len(), 1);

        let no_model = LlmChoice::OpenAiCompatible {
            url: "http://vllm:8001/v1".into(),
            model: None,
        };
        let err = provider_request(&no_model, "", no_env).unwrap_err();
        assert!(
            err.hint()
                .unwrap()
                .contains("curl http://vllm:8001/v1/models")
        );
        for bad in ["vllm:8001", "ftp://x", "http://", ""] {
            let c = LlmChoice::OpenAiCompatible {
                url: bad.into(),
                model: Some("m".into()),
            };
            assert!(
                matches!(
                    provider_request(&c, "", no_env),
                    Err(LlmError::BadUrl { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn ollama_goes_to_the_host() {
        assert_eq!(ollama_url(false, None), "http://host.docker.internal:11434");
        assert_eq!(
            ollama_url(false, Some("172.18.0.1")),
            "http://host.docker.internal:11434"
        );
        assert_eq!(
            ollama_url(true, Some("172.18.0.1")),
            "http://172.18.0.1:11434"
        );
        assert_eq!(ollama_url(true, None), "http://host.docker.internal:11434");
        let c = LlmChoice::Ollama {
            model: Some("llama3.2".into()),
        };
        let req = provider_request(&c, "http://172.18.0.1:11434", no_env).unwrap();
        assert_eq!(req.provider, "ollama_chat");
        assert_eq!(req.api_base.as_deref(), Some("http://172.18.0.1:11434"));
        assert_eq!(req.api_key, None);
        assert!(!req.api_key_changed);
    }

    #[test]
    fn openai_key_comes_from_the_named_variable_and_is_never_shown() {
        let c = LlmChoice::OpenAi {
            key_env: "MY_KEY".into(),
            model: None,
        };
        let err = provider_request(&c, "", no_env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable MY_KEY (named by --openai-api-key-env) is not set or empty"
        );
        let err = provider_request(&c, "", |_| Some("  ".into())).unwrap_err();
        assert!(matches!(err, LlmError::KeyEnvMissing { .. }));
        let req =
            provider_request(&c, "", |k| (k == "MY_KEY").then(|| "sk-secret".into())).unwrap();
        assert_eq!(req.api_key.as_deref(), Some("sk-secret"));
        assert!(req.api_key_changed);
        assert_eq!(req.default_model_name, "gpt-4o");
        assert_eq!(req.fast_default_model_name.as_deref(), Some("gpt-4o-mini"));
        assert!(!format!("{req:?}").contains("sk-secret"));
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let (a, b) = (AdminLogin::generate(), AdminLogin::generate());
        assert!(a.password.len() >= 32);
        assert_ne!(a.password, b.password);
        assert!(!format!("{a:?}").contains(&a.password));
    }

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
