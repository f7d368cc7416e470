//! Find and connect to the Docker engine the user runs, whatever it is (Docker Engine, Docker
//! Desktop, colima, OrbStack, Rancher Desktop, rootless Docker, podman), and read its facts.
//!
//! Steps:
//! 1. list the candidates, in order ([`candidates`], a pure function of [`EngineEnv`]):
//!    `DOCKER_HOST` (unix, tcp, tcp+TLS); the current Docker context (`DOCKER_CONTEXT`, or
//!    `currentContext` in `$DOCKER_CONFIG/config.json`, endpoint from
//!    `contexts/meta/<sha256(name)>/meta.json`); then the usual sockets;
//! 2. when the user named an engine — `DOCKER_HOST`, `DOCKER_CONTEXT`, or a current context in
//!    the config file (what `docker context use` sets) — only that one is tried, as the docker
//!    CLI does, and if it doesn't answer that is the error, naming it ([`named`]); otherwise
//!    ping each usual socket in turn ([`connect`]), skipping sockets that don't exist;
//! 3. negotiate the API version with the first that answers (bollard speaks a newer API than
//!    e.g. Docker 20.10's 1.41);
//! 4. none answered: one error listing what was tried and how to start Docker on this OS.
//!
//! `candidates.rs` lists the places (steps 1–2, pure), `connect.rs` tries them (2–4) and
//! `hints.rs` says what to do when none answers; this file holds the connected [`Engine`] and the
//! facts it reports.

mod candidates;
mod connect;
mod hints;

use bollard::Docker;
use serde::Serialize;

use super::DockerError;

pub use candidates::{
    Candidate, DOCKER_CERT_PATH, DOCKER_CONFIG, DOCKER_CONTEXT, DOCKER_HOST, DOCKER_TLS_VERIFY,
    Endpoint, EngineEnv, TlsFiles, XDG_RUNTIME_DIR, candidates, named, parse_host,
};
pub use connect::{connect, connect_candidates};
pub use hints::{start_hint, with_causes};

/// A connected engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    pub candidate: Candidate,
    /// The API version agreed on, e.g. `1.41`.
    pub api_version: String,
}

/// What the engine says about itself. On macOS and Windows memory and CPUs are the VM's, which is
/// what containers (and so the stack's pods) get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineFacts {
    pub endpoint: String,
    pub api_version: String,
    pub server_version: String,
    pub os: String,
    pub memory_bytes: u64,
    pub cpus: u32,
    /// `1`, `2`, or empty when the engine doesn't say.
    pub cgroup_version: String,
    pub rootless: bool,
    pub storage_driver: String,
    /// Images stored by containerd's snapshotters rather than the classic graph driver.
    pub containerd_image_store: bool,
    /// Where the engine keeps images (a path on the engine's machine).
    pub root_dir: String,
}

impl Engine {
    pub async fn facts(&self) -> Result<EngineFacts, DockerError> {
        let info = self.docker.info().await?;
        Ok(facts_from_info(
            &info,
            &self.candidate.endpoint.to_string(),
            &self.api_version,
        ))
    }
}

/// Pull the facts out of `/info` (pure, for tests).
pub fn facts_from_info(
    info: &bollard::models::SystemInfo,
    endpoint: &str,
    api_version: &str,
) -> EngineFacts {
    let security = info.security_options.clone().unwrap_or_default();
    let driver_status = info.driver_status.clone().unwrap_or_default();
    let containerd_image_store = driver_status
        .iter()
        .any(|kv| kv.len() == 2 && kv[0] == "driver-type" && kv[1].starts_with("io.containerd"));
    EngineFacts {
        endpoint: endpoint.to_string(),
        api_version: api_version.to_string(),
        server_version: info.server_version.clone().unwrap_or_default(),
        os: info.operating_system.clone().unwrap_or_default(),
        memory_bytes: info.mem_total.unwrap_or(0).max(0) as u64,
        cpus: info.ncpu.unwrap_or(0).max(0) as u32,
        cgroup_version: info
            .cgroup_version
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_default(),
        rootless: security.iter().any(|s| s.contains("name=rootless")),
        storage_driver: info.driver.clone().unwrap_or_default(),
        containerd_image_store,
        root_dir: info.docker_root_dir.clone().unwrap_or_default(),
    }
}

/// Connect to the engine of this process's environment and read its facts.
pub async fn detect() -> Result<(Engine, EngineFacts), DockerError> {
    let engine = connect(&EngineEnv::from_process()).await?;
    let facts = engine.facts().await?;
    Ok((engine, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_from_info_reads_the_fields() {
        let info = bollard::models::SystemInfo {
            mem_total: Some(8 << 30),
            ncpu: Some(4),
            driver: Some("overlayfs".into()),
            driver_status: Some(vec![vec![
                "driver-type".into(),
                "io.containerd.snapshotter.v1".into(),
            ]]),
            security_options: Some(vec![
                "name=seccomp,profile=builtin".into(),
                "name=rootless".into(),
            ]),
            cgroup_version: Some(bollard::models::SystemInfoCgroupVersionEnum::_2),
            docker_root_dir: Some("/var/lib/docker".into()),
            ..Default::default()
        };
        let f = facts_from_info(&info, "unix:///x", "1.41");
        assert_eq!(f.memory_bytes, 8 << 30);
        assert_eq!(f.cpus, 4);
        assert!(f.rootless);
        assert!(f.containerd_image_store);
        assert_eq!(f.cgroup_version, "2");
        assert_eq!(f.storage_driver, "overlayfs");
    }
}
