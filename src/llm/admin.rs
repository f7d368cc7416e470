//! Onyx's admin login that onyx keeps: the e-mail and a generated password, stored in the
//! Kubernetes Secret `onyx-admin` of the stack's namespace ([`SecretStore`]) before the user is
//! registered, so the password is never lost; tests keep it in memory ([`AdminStore`]).

use std::collections::BTreeMap;

use rand::RngExt;
use rand::distr::Alphanumeric;

use super::LlmError;

/// The Secret holding onyx's admin login (keys `email`, `password`).
pub const ADMIN_SECRET: &str = "onyx-admin";
/// The e-mail of the admin user onyx registers. Onyx validates e-mails with email-validator,
/// which refuses reserved names such as `.local`, so an example.com address is used.
pub const ADMIN_EMAIL: &str = "admin@onyx.example.com";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let (a, b) = (AdminLogin::generate(), AdminLogin::generate());
        assert!(a.password.len() >= 32);
        assert_ne!(a.password, b.password);
        assert!(!format!("{a:?}").contains(&a.password));
    }
}
