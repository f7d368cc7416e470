//! The stack's credentials: generated fresh for a new install (never a default password), or kept
//! from existing Secrets so passwords never change under data that already uses them.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use rand::RngExt;
use rand::distr::Alphanumeric;

use crate::error::{Error, Result};

/// Length of every generated password.
pub const PASSWORD_LEN: usize = 40;
/// Random characters in every generated user name / access key (after a fixed prefix).
pub const NAME_RANDOM_LEN: usize = 32;

/// The Secrets the stack uses, with their keys: (secret name, keys).
pub const SECRETS: &[(&str, &[&str])] = &[
    ("onyx-postgresql", &["username", "password"]),
    ("onyx-redis", &["password"]),
    ("onyx-minio", &["access-key", "secret-key"]),
    // Onyx's own secrets (issue #20 item 15), Onyx v2.3.0 backend/onyx/configs/app_configs.py:
    // DB_READONLY_PASSWORD (default "password") is the password the migration
    // alembic/versions/495cb26ce93e creates the login role db_readonly_user with;
    // USER_AUTH_SECRET (default "") signs the password-reset and verification tokens.
    ("onyx-app", &["db-readonly-password", "user-auth-secret"]),
];

/// Secrets added after the first releases of onyx: a `--reuse-secrets` file from before them
/// lacks them, and they get fresh values (nothing on disk was initialised with them: the
/// read-only role's password is set again after every migration, and a new USER_AUTH_SECRET
/// only voids reset/verification links not yet used).
pub const ADDED_LATER: &[&str] = &["onyx-app"];

/// Values for every key of every stack Secret: secret name → key → value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials(pub BTreeMap<String, BTreeMap<String, String>>);

fn random(len: usize, charset_lower: bool) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let c = rng.sample(Alphanumeric) as char;
            if charset_lower {
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
        .collect()
}

impl Credentials {
    /// Fresh random values. User names are lowercase (valid unquoted Postgres identifiers).
    pub fn generate() -> Credentials {
        let mut all = BTreeMap::new();
        for (secret, keys) in SECRETS {
            let mut values = BTreeMap::new();
            for key in *keys {
                let value = match *key {
                    "username" | "access-key" => format!("onyx{}", random(NAME_RANDOM_LEN, true)),
                    _ => random(PASSWORD_LEN, false),
                };
                values.insert(key.to_string(), value);
            }
            all.insert(secret.to_string(), values);
        }
        Credentials(all)
    }

    /// Take every value from existing Secrets; each stack Secret and key must be there, except a
    /// Secret [`ADDED_LATER`] missing whole (it gets fresh values).
    pub fn from_secrets(secrets: &[Secret], origin: &str) -> Result<Credentials> {
        Self::from_secrets_noting(secrets, origin).map(|(c, _)| c)
    }

    /// [`Credentials::from_secrets`], also naming the Secrets [`ADDED_LATER`] that were missing
    /// and so got fresh values (each render of such a file makes new ones: the caller says so).
    pub fn from_secrets_noting(
        secrets: &[Secret],
        origin: &str,
    ) -> Result<(Credentials, Vec<&'static str>)> {
        let mut fresh = Vec::new();
        let mut all = Credentials::generate().0;
        for (name, keys) in SECRETS {
            let found = secrets
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name));
            if found.is_none() && ADDED_LATER.contains(name) {
                fresh.push(*name);
                continue;
            }
            let secret = found.ok_or_else(|| {
                Error::input(
                    format!("{origin} has no Secret named {name}"),
                    "pass a file holding the onyx-postgresql, onyx-redis, onyx-minio and onyx-app \
                         Secrets (an earlier `onyx render`, or `kubectl get secret ... -o yaml`)",
                )
            })?;
            let mut values = BTreeMap::new();
            for key in *keys {
                let value = secret_value(secret, key).ok_or_else(|| {
                    Error::input(
                        format!("{origin}: Secret {name} has no usable value for key {key:?}"),
                        "the Secret must hold every key onyx uses; re-export it from the cluster",
                    )
                })?;
                values.insert(key.to_string(), value);
            }
            all.insert(name.to_string(), values);
        }
        Ok((Credentials(all), fresh))
    }

    /// The values of one stack Secret found in a cluster, when it holds every key onyx uses
    /// (used by `up` to keep whatever Secrets already exist).
    pub fn from_secrets_partial(secret: &Secret) -> Result<Credentials> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let keys = SECRETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                Error::input(
                    format!("{name} is not a stack Secret"),
                    "only onyx-postgresql, onyx-redis, onyx-minio and onyx-app are read",
                )
            })?;
        let mut values = BTreeMap::new();
        for key in keys {
            let value = secret_value(secret, key).ok_or_else(|| {
                Error::input(
                    format!("Secret {name} has no usable value for key {key:?}"),
                    "delete the Secret to have onyx make a new one",
                )
            })?;
            values.insert(key.to_string(), value);
        }
        Ok(Credentials(BTreeMap::from([(name, values)])))
    }

    /// Read Secrets from a YAML (one or more documents, or a `List`) or JSON file.
    pub fn from_file(path: &Path) -> Result<Credentials> {
        Self::from_file_noting(path).map(|(c, _)| c)
    }

    /// [`Credentials::from_file`], also naming the Secrets [`ADDED_LATER`] the file lacked.
    pub fn from_file_noting(path: &Path) -> Result<(Credentials, Vec<&'static str>)> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(
                format!("cannot read {origin}: {e}"),
                "check the path given to --reuse-secrets",
            )
        })?;
        let bad = |e: String| {
            Error::input(
                format!("{origin} is not a Kubernetes YAML/JSON file: {e}"),
                "pass the output of `onyx render` or `kubectl get secret ... -o yaml`",
            )
        };
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| bad(e.to_string()))?;
        let mut secrets = Vec::new();
        for doc in docs {
            collect_secrets(doc, &mut secrets);
        }
        Self::from_secrets_noting(&secrets, &origin)
    }

    pub fn get(&self, secret: &str, key: &str) -> &str {
        &self.0[secret][key]
    }
}

fn collect_secrets(doc: serde_json::Value, out: &mut Vec<Secret>) {
    match doc.get("kind").and_then(|k| k.as_str()) {
        Some("Secret") => {
            if let Ok(s) = serde_json::from_value::<Secret>(doc) {
                out.push(s);
            }
        }
        Some("List") | Some("SecretList") => {
            if let Some(serde_json::Value::Array(items)) = doc.get("items") {
                for item in items.clone() {
                    collect_secrets(item, out);
                }
            }
        }
        _ => {}
    }
}

/// A key's value from `data` (base64, decoded by k8s-openapi) or `stringData`; empty is unusable.
fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|b| String::from_utf8(b.0.clone()).ok());
    let from_string = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned();
    from_data.or(from_string).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_long_random_and_distinct() {
        let a = Credentials::generate();
        let b = Credentials::generate();
        for (secret, keys) in SECRETS {
            for key in *keys {
                let va = a.get(secret, key);
                assert!(va.len() >= 32, "{secret}/{key}: {}", va.len());
                assert!(va.chars().all(|c| c.is_ascii_alphanumeric()));
                assert_ne!(va, b.get(secret, key), "{secret}/{key} repeated");
            }
        }
        let user = a.get("onyx-postgresql", "username");
        assert!(
            user.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn a_reuse_file_from_before_onyx_app_gets_fresh_app_secrets() {
        let fresh = Credentials::generate();
        let old: Vec<Secret> = SECRETS
            .iter()
            .filter(|(n, _)| !ADDED_LATER.contains(n))
            .map(|(name, keys)| Secret {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(name.to_string()),
                    ..Default::default()
                },
                string_data: Some(
                    keys.iter()
                        .map(|k| (k.to_string(), fresh.get(name, k).to_string()))
                        .collect(),
                ),
                ..Default::default()
            })
            .collect();
        let kept = Credentials::from_secrets(&old, "old.yaml").unwrap();
        assert_eq!(
            kept.get("onyx-postgresql", "password"),
            fresh.get("onyx-postgresql", "password")
        );
        let pw = kept.get("onyx-app", "db-readonly-password");
        assert!(pw.len() >= 32 && pw != "password");
        assert!(kept.get("onyx-app", "user-auth-secret").len() >= 32);
    }

    #[test]
    fn reuse_needs_every_secret() {
        let err = Credentials::from_secrets(&[], "test").unwrap_err();
        assert!(err.to_string().contains("onyx-postgresql"), "{err}");
    }
}
