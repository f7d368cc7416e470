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

/// The commands that start an engine on this OS (nothing about DOCKER_HOST).
fn start_steps(os: &str) -> &'static str {
    match os {
        "linux" => {
            "start Docker: `sudo systemctl start docker` (rootless: `systemctl --user start \
             docker`; or run `dockerd`)"
        }
        "macos" => {
            "start Docker Desktop (`open -a Docker`), colima (`colima start`), OrbStack or \
             Rancher Desktop"
        }
        "windows" => "start Docker Desktop",
        _ => "start a Docker engine",
    }
}

/// How to start an engine on this OS.
pub fn start_hint(os: &str) -> String {
    format!(
        "{}, or set DOCKER_HOST to the engine's address",
        start_steps(os)
    )
}

/// How to stop naming an engine, per where it was named. Unnaming leads to this machine's
/// default engine, so the way to start that one follows (without "set DOCKER_HOST", which would
/// contradict "unset DOCKER_HOST").
pub(super) fn unname_hint(source: &str, os: &str) -> String {
    let steps = start_steps(os);
    if source == DOCKER_HOST {
        format!(
            "start the engine at that address, or unset {DOCKER_HOST} to use this machine's \
             default engine (to {steps})"
        )
    } else if source.starts_with("context") || source.contains("context") {
        format!(
            "start that context's engine, or switch to the default one: `docker context use \
             default` (or unset {DOCKER_CONTEXT}); to {steps}"
        )
    } else {
        start_hint(os)
    }
}
