//! Steps 2 to 4 of finding the engine: ping the named engine (only it) or each usual socket in
//! turn, negotiate the API version with the first that answers, and otherwise one error listing
//! what was tried and how to start Docker on this OS.

use std::path::Path;
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};

use super::hints::{start_hint, unname_hint};
use super::{Candidate, DOCKER_HOST, Endpoint, Engine, EngineEnv, candidates, named};
use crate::docker::DockerError;

/// How long one candidate may take to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// bollard's per-request timeout, in seconds. Pulls, saves and loads of big images are long
/// streams, so this is large; discovery uses [`PING_TIMEOUT`] on its own.
const REQUEST_TIMEOUT_SECS: u64 = 6 * 3600;

/// A client for one endpoint (no request made yet).
fn client(endpoint: &Endpoint) -> Result<Docker, bollard::errors::Error> {
    match endpoint {
        Endpoint::Unix { path } => Docker::connect_with_unix(
            &path.to_string_lossy(),
            REQUEST_TIMEOUT_SECS,
            API_DEFAULT_VERSION,
        ),
        Endpoint::Tcp { addr, tls: None } => {
            Docker::connect_with_http(addr, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
        }
        Endpoint::Tcp {
            addr,
            tls: Some(tls),
        } => Docker::connect_with_ssl(
            addr,
            &tls.key,
            &tls.cert,
            &tls.ca,
            REQUEST_TIMEOUT_SECS,
            API_DEFAULT_VERSION,
        ),
    }
}

/// Try one candidate: negotiate the version, then ping with it.
async fn try_candidate(candidate: &Candidate) -> Result<Engine, String> {
    if let Endpoint::Unix { path } = &candidate.endpoint
        && !path.exists()
    {
        return Err("no such socket".into());
    }
    let docker = client(&candidate.endpoint).map_err(|e| e.to_string())?;
    let attempt = async {
        let docker = docker.negotiate_version().await?;
        docker.ping().await?;
        Ok::<_, bollard::errors::Error>(docker)
    };
    match tokio::time::timeout(PING_TIMEOUT, attempt).await {
        Err(_) => Err(format!("no answer within {}s", PING_TIMEOUT.as_secs())),
        // In onyx's words ("connection refused"), not hyper's layers.
        Ok(Err(e)) => Err(crate::text::plain_error(&e)),
        Ok(Ok(docker)) => {
            let v = docker.client_version();
            Ok(Engine {
                api_version: v.to_string(),
                docker,
                candidate: candidate.clone(),
            })
        }
    }
}

/// Connect to the engine the user named (and only that one), else to the first usual socket that
/// answers.
pub async fn connect(env: &EngineEnv) -> Result<Engine, DockerError> {
    let read = |p: &Path| std::fs::read_to_string(p);
    match named(env, &read) {
        Some(Ok(candidate)) => match try_candidate(&candidate).await {
            Ok(engine) => Ok(engine),
            Err(error) => Err(DockerError::NamedEngine {
                hint: unname_hint(&candidate.source, &env.os),
                named: format!("{} ({})", candidate.source, candidate.endpoint),
                error,
            }),
        },
        Some(Err(error)) => {
            let source = error.split(':').next().unwrap_or_default().to_string();
            Err(DockerError::NamedEngine {
                hint: unname_hint(&source, &env.os),
                named: source,
                error,
            })
        }
        None => {
            let (list, notes) = candidates(env, &read);
            connect_candidates(&list, notes, &env.os).await
        }
    }
}

/// Connect to the first of `list` that answers; `notes` start the list of what was tried.
pub async fn connect_candidates(
    list: &[Candidate],
    notes: Vec<String>,
    os: &str,
) -> Result<Engine, DockerError> {
    let mut tried = notes;
    for candidate in list {
        match try_candidate(candidate).await {
            Ok(engine) => {
                if let Some(first) = list.first()
                    && first != candidate
                    && (first.source == DOCKER_HOST || first.source.starts_with("context "))
                {
                    tracing::warn!(
                        "{} ({}) did not answer; using the engine at {}",
                        first.endpoint,
                        first.source,
                        candidate.endpoint
                    );
                }
                tracing::debug!(
                    endpoint = %candidate.endpoint,
                    source = %candidate.source,
                    api = %engine.api_version,
                    "connected to the Docker engine"
                );
                return Ok(engine);
            }
            Err(e) => {
                tracing::debug!(endpoint = %candidate.endpoint, "no engine: {e}");
                tried.push(format!(
                    "{} ({}): {e}",
                    candidate.endpoint, candidate.source
                ));
            }
        }
    }
    Err(DockerError::NoEngine {
        tried,
        hint: start_hint(os),
    })
}

#[cfg(test)]
mod tests {
    use super::super::candidates::tests::env;
    use super::*;
    use crate::docker::engine::DOCKER_CONTEXT;

    #[tokio::test]
    async fn a_named_engine_that_does_not_answer_is_the_error_with_no_fallback() {
        let home = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = env(
            &[(DOCKER_HOST, &format!("tcp://127.0.0.1:{port}"))],
            home.path(),
        );
        let err = connect(&e).await.unwrap_err();
        let DockerError::NamedEngine { named, hint, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(named, &format!("DOCKER_HOST (tcp://127.0.0.1:{port})"));
        assert!(hint.contains("unset DOCKER_HOST"), "{hint}");
        assert!(err.to_string().contains("does not answer"), "{err}");
        let e = env(&[(DOCKER_CONTEXT, "gone")], home.path());
        let err = connect(&e).await.unwrap_err();
        let DockerError::NamedEngine { named, hint, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(named, "context gone");
        assert!(hint.contains("docker context use default"), "{hint}");
    }

    #[tokio::test]
    async fn nothing_answering_lists_every_place_tried_in_order() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        // A socket file with nobody behind it, a missing one, and a TCP port nobody listens on.
        let dead = h.join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let list = vec![
            Candidate {
                source: "DOCKER_HOST".into(),
                endpoint: Endpoint::Tcp {
                    addr: format!("127.0.0.1:{port}"),
                    tls: None,
                },
            },
            Candidate {
                source: "missing".into(),
                endpoint: Endpoint::Unix {
                    path: h.join("missing.sock"),
                },
            },
            Candidate {
                source: "dead".into(),
                endpoint: Endpoint::Unix { path: dead.clone() },
            },
        ];
        let err = connect_candidates(&list, vec!["context x: broken".into()], "linux")
            .await
            .unwrap_err();
        let DockerError::NoEngine { tried, hint } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(tried.len(), 4, "{tried:?}");
        assert_eq!(tried[0], "context x: broken");
        assert!(tried[1].starts_with(&format!("tcp://127.0.0.1:{port} (DOCKER_HOST): ")));
        assert!(
            tried[2].ends_with("missing.sock (missing): no such socket"),
            "{tried:?}"
        );
        assert!(tried[3].starts_with(&format!("unix://{} (dead): ", dead.display())));
        assert!(!tried[3].contains("no such socket"), "{tried:?}");
        assert!(hint.contains("systemctl start docker"), "{hint}");
        let text = err.to_string();
        assert!(text.contains("missing.sock"), "{text}");
    }
}
