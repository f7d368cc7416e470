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
//!    (Onyx v2.3.0 backend/onyx/auth/users.py `UserManager.create`: `user_count == 0` → ADMIN). `POST /api/auth/register` (JSON), then
//!    `POST /api/auth/login` (form) → cookie `fastapiusersauth`; `GET /api/me` must say `admin`;
//! 3. `PUT /api/admin/llm/provider?is_creation=…` (create, or update the provider of the same
//!    name: re-runs are idempotent), then `POST /api/admin/llm/provider/{id}/default`.
//!
//! If someone registered before onyx did, they are the admin and onyx's user is not: onyx stops
//! with an error that says to set the provider in the UI (Admin → LLM) instead.
//!
//! The files: `choice.rs` builds the provider (pure), `admin.rs` keeps the login, `session.rs`
//! speaks Onyx's API (the endpoints' sources are cited there); this one holds the errors and the
//! order of the steps.

mod admin;
mod choice;
mod session;

pub use admin::{ADMIN_EMAIL, ADMIN_SECRET, AdminLogin, AdminStore, SecretStore};
pub use choice::{
    LlmChoice, ModelConfiguration, OLLAMA_PORT, ProviderRequest, ollama_url, provider_request,
};
pub use session::SESSION_COOKIE;
use session::{Registered, Session};

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

/// Sign in as onyx's admin (registering it on the first run) and make `request` the default
/// provider. `base_url` is the gateway (e.g. `http://localhost:3000`); the API must be ready.
pub async fn configure(
    base_url: &str,
    request: &ProviderRequest,
    store: &impl AdminStore,
) -> Result<Configured, LlmError> {
    let mut session = Session::new(base_url)?;

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
