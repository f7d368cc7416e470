//! The provider onyx gives Onyx, built from the user's choice (`up`'s LLM flags): an
//! OpenAI-compatible URL (vLLM, LiteLLM, …), the host's Ollama, or OpenAI with a key read from an
//! environment variable. Pure: no network, no cluster; [`super::configure`] sends the result.
//!
//! The body follows Onyx v2.3.0's `LLMProviderUpsertRequest`
//! (backend/onyx/server/manage/llm/models.py: `LLMProvider` plus `api_key_changed` and
//! `model_configurations`); the provider strings are litellm's.

use serde::{Deserialize, Serialize};

use super::LlmError;

/// Where the host's Ollama listens (its default).
pub const OLLAMA_PORT: u16 = 11434;
/// The provider names onyx uses in Onyx, one per kind of choice; a re-run updates its own.
const NAME_OPENAI_COMPATIBLE: &str = "onyx-openai-compatible";
const NAME_OLLAMA: &str = "onyx-ollama";
const NAME_OPENAI: &str = "onyx-openai";

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
}
