//! What onyx says when it cannot reach an engine: how to start one on this OS, how to stop naming
//! one that does not answer, and an error with its causes in one line.

use super::candidates::{DOCKER_CONTEXT, DOCKER_HOST};

/// An error with its causes, for messages (hyper's own text alone says only "client error").
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

/// How to start an engine on this OS.
pub fn start_hint(os: &str) -> String {
    match os {
        "linux" => {
            "start Docker: `sudo systemctl start docker` (rootless: `systemctl --user start \
                    docker`; or run `dockerd`), or set DOCKER_HOST to the engine's address"
                .into()
        }
        "macos" => "start Docker Desktop (`open -a Docker`), colima (`colima start`), OrbStack or \
                    Rancher Desktop, or set DOCKER_HOST to the engine's address"
            .into(),
        "windows" => "start Docker Desktop, or set DOCKER_HOST to the engine's address".into(),
        _ => "start a Docker engine, or set DOCKER_HOST to its address".into(),
    }
}

/// How to stop naming an engine, per where it was named.
pub(super) fn unname_hint(source: &str, os: &str) -> String {
    let start = start_hint(os);
    if source == DOCKER_HOST {
        format!(
            "start the engine at that address, or unset {DOCKER_HOST} to use the default one              ({start})"
        )
    } else if source.starts_with("context") || source.contains("context") {
        format!(
            "start that context's engine, or switch context: `docker context use default` (or              unset {DOCKER_CONTEXT}); otherwise {start}"
        )
    } else {
        start
    }
}
