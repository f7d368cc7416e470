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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DockerError;

/// Environment variables the discovery reads (Docker's own, not onyx's).
pub const DOCKER_HOST: &str = "DOCKER_HOST";
pub const DOCKER_CONTEXT: &str = "DOCKER_CONTEXT";
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const DOCKER_TLS_VERIFY: &str = "DOCKER_TLS_VERIFY";
pub const DOCKER_CERT_PATH: &str = "DOCKER_CERT_PATH";
pub const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";

/// How long one candidate may take to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// bollard's per-request timeout, in seconds. Pulls, saves and loads of big images are long
/// streams, so this is large; discovery uses [`PING_TIMEOUT`] on its own.
const REQUEST_TIMEOUT_SECS: u64 = 6 * 3600;

/// The facts discovery depends on, injected so tests can use fake paths.
#[derive(Debug, Clone, Default)]
pub struct EngineEnv {
    /// Environment variables (only the Docker ones matter).
    pub vars: BTreeMap<String, String>,
    /// The user's home directory.
    pub home: Option<PathBuf>,
    /// `linux`, `macos`, `windows` (for the hint).
    pub os: String,
}

impl EngineEnv {
    /// This process's environment.
    pub fn from_process() -> EngineEnv {
        let vars = [
            DOCKER_HOST,
            DOCKER_CONTEXT,
            DOCKER_CONFIG,
            DOCKER_TLS_VERIFY,
            DOCKER_CERT_PATH,
            XDG_RUNTIME_DIR,
        ]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
        EngineEnv {
            vars,
            home: directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()),
            os: std::env::consts::OS.to_string(),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `$DOCKER_CONFIG`, else `~/.docker`.
    fn docker_config_dir(&self) -> Option<PathBuf> {
        self.var(DOCKER_CONFIG)
            .map(PathBuf::from)
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }
}

/// Client certificates for a TLS endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where an engine may listen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Endpoint {
    Unix { path: PathBuf },
    Tcp { addr: String, tls: Option<TlsFiles> },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix { path } => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { addr, tls: None } => write!(f, "tcp://{addr}"),
            Endpoint::Tcp { addr, tls: Some(_) } => write!(f, "tcp://{addr} (TLS)"),
        }
    }
}

/// One place to try, and why it is on the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// E.g. `DOCKER_HOST`, `context colima`, `Docker Desktop socket`.
    pub source: String,
    pub endpoint: Endpoint,
}

/// Parse a `DOCKER_HOST`-style address. `Err` names what is unsupported.
pub fn parse_host(host: &str, tls: Option<TlsFiles>) -> Result<Endpoint, String> {
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(Endpoint::Unix { path: path.into() });
    }
    for scheme in ["tcp://", "http://", "https://"] {
        if let Some(addr) = host.strip_prefix(scheme) {
            let addr = addr.trim_end_matches('/').to_string();
            if addr.is_empty() {
                return Err(format!("{host:?} has no address"));
            }
            // https:// without certificates can't be spoken here; keep what we have.
            return Ok(Endpoint::Tcp { addr, tls });
        }
    }
    Err(format!(
        "{host:?} is not supported by onyx (use unix:// or tcp://)"
    ))
}

/// TLS files when `DOCKER_TLS_VERIFY` or `DOCKER_CERT_PATH` asks for them.
fn env_tls(env: &EngineEnv) -> Option<TlsFiles> {
    let verify = env.var(DOCKER_TLS_VERIFY).is_some_and(|v| v != "0");
    let dir = env.var(DOCKER_CERT_PATH).map(PathBuf::from);
    if !verify && dir.is_none() {
        return None;
    }
    let dir = dir.or_else(|| env.docker_config_dir())?;
    Some(TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    })
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(rename = "currentContext")]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct ContextMeta {
    #[serde(rename = "Endpoints")]
    endpoints: BTreeMap<String, ContextEndpoint>,
}

#[derive(Deserialize)]
struct ContextEndpoint {
    #[serde(rename = "Host")]
    host: Option<String>,
}

/// The Docker context in use and its endpoint, or a note on why it can't be used.
fn context_candidate(
    env: &EngineEnv,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Option<Result<Candidate, String>> {
    let config_dir = env.docker_config_dir()?;
    let name = match env.var(DOCKER_CONTEXT) {
        Some(name) => name.to_string(),
        None => {
            let text = read(&config_dir.join("config.json")).ok()?;
            let config: ConfigJson = serde_json::from_str(&text).ok()?;
            config.current_context.filter(|c| !c.is_empty())?
        }
    };
    // "default" is DOCKER_HOST or the platform socket: the steps around this one cover it.
    if name == "default" {
        return None;
    }
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    let meta_path = config_dir
        .join("contexts")
        .join("meta")
        .join(&hash)
        .join("meta.json");
    let source = format!("context {name}");
    let meta: ContextMeta = match read(&meta_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            return Some(Err(format!(
                "{source}: cannot read {}: {e}",
                meta_path.display()
            )));
        }
    };
    let Some(host) = meta.endpoints.get("docker").and_then(|e| e.host.clone()) else {
        return Some(Err(format!(
            "{source}: {} has no docker endpoint",
            meta_path.display()
        )));
    };
    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&hash)
        .join("docker");
    let tls = read(&tls_dir.join("cert.pem")).is_ok().then(|| TlsFiles {
        ca: tls_dir.join("ca.pem"),
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    });
    Some(
        parse_host(&host, tls)
            .map(|endpoint| Candidate { source, endpoint })
            .map_err(|e| format!("context {name}: {e}")),
    )
}

/// Every place to try, in order, plus notes on configured places that can't be used (an
/// unsupported `DOCKER_HOST`, an unreadable context). Pure: it reads files only through `read`.
pub fn candidates(
    env: &EngineEnv,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> (Vec<Candidate>, Vec<String>) {
    let mut list = Vec::new();
    let mut notes = Vec::new();
    if let Some(host) = env.var(DOCKER_HOST) {
        match parse_host(host, env_tls(env)) {
            Ok(endpoint) => list.push(Candidate {
                source: DOCKER_HOST.into(),
                endpoint,
            }),
            Err(e) => notes.push(format!("{DOCKER_HOST}: {e}")),
        }
    }
    match context_candidate(env, read) {
        Some(Ok(c)) => list.push(c),
        Some(Err(e)) => notes.push(e),
        None => {}
    }
    let mut sockets: Vec<(&str, PathBuf)> = vec![("default socket", "/var/run/docker.sock".into())];
    if let Some(home) = &env.home {
        sockets.extend([
            ("Docker Desktop", home.join(".docker/run/docker.sock")),
            ("colima", home.join(".colima/default/docker.sock")),
            ("colima", home.join(".colima/docker.sock")),
            ("OrbStack", home.join(".orbstack/run/docker.sock")),
            ("Rancher Desktop", home.join(".rd/docker.sock")),
        ]);
    }
    if let Some(run) = env.var(XDG_RUNTIME_DIR) {
        let run = PathBuf::from(run);
        sockets.push(("rootless Docker", run.join("docker.sock")));
        sockets.push(("rootless podman", run.join("podman/podman.sock")));
    }
    sockets.push(("podman", "/run/podman/podman.sock".into()));
    for (source, path) in sockets {
        let endpoint = Endpoint::Unix { path };
        if !list.iter().any(|c: &Candidate| c.endpoint == endpoint) {
            list.push(Candidate {
                source: source.into(),
                endpoint,
            });
        }
    }
    (list, notes)
}

/// The engine the user named, if any: `DOCKER_HOST`, else the Docker context in use
/// (`DOCKER_CONTEXT`, or `currentContext` in the config file, unless it is `default`). `Err`: it
/// is named but can't be used (an unsupported address, an unreadable context). Pure, like
/// [`candidates`].
pub fn named(
    env: &EngineEnv,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Option<Result<Candidate, String>> {
    if let Some(host) = env.var(DOCKER_HOST) {
        return Some(
            parse_host(host, env_tls(env))
                .map(|endpoint| Candidate {
                    source: DOCKER_HOST.into(),
                    endpoint,
                })
                .map_err(|e| format!("{DOCKER_HOST}: {e}")),
        );
    }
    context_candidate(env, read)
}

/// How to stop naming an engine, per where it was named.
fn unname_hint(source: &str, os: &str) -> String {
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

/// A connected engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    pub candidate: Candidate,
    /// The API version agreed on, e.g. `1.41`.
    pub api_version: String,
}

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
        Ok(Err(e)) => Err(with_causes(&e)),
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

    fn env(vars: &[(&str, &str)], home: &Path) -> EngineEnv {
        EngineEnv {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            home: Some(home.to_path_buf()),
            os: "linux".into(),
        }
    }

    fn read(p: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(p)
    }

    fn write_context(config_dir: &Path, name: &str, host: &str) {
        let hash = hex::encode(Sha256::digest(name.as_bytes()));
        let dir = config_dir.join("contexts/meta").join(hash);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("meta.json"),
            format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
            ),
        )
        .unwrap();
    }

    fn endpoints(list: &[Candidate]) -> Vec<String> {
        list.iter().map(|c| c.endpoint.to_string()).collect()
    }

    #[test]
    fn order_is_docker_host_then_context_then_sockets() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let cfg = h.join(".docker");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("config.json"), r#"{"currentContext":"colima"}"#).unwrap();
        write_context(&cfg, "colima", &format!("unix://{}/ctx.sock", h.display()));
        let e = env(
            &[
                (DOCKER_HOST, "tcp://127.0.0.1:2375"),
                (XDG_RUNTIME_DIR, "/run/user/1000"),
            ],
            h,
        );
        let (list, notes) = candidates(&e, &read);
        assert!(notes.is_empty(), "{notes:?}");
        let hd = h.display();
        assert_eq!(
            endpoints(&list),
            vec![
                "tcp://127.0.0.1:2375".to_string(),
                format!("unix://{hd}/ctx.sock"),
                "unix:///var/run/docker.sock".into(),
                format!("unix://{hd}/.docker/run/docker.sock"),
                format!("unix://{hd}/.colima/default/docker.sock"),
                format!("unix://{hd}/.colima/docker.sock"),
                format!("unix://{hd}/.orbstack/run/docker.sock"),
                format!("unix://{hd}/.rd/docker.sock"),
                "unix:///run/user/1000/docker.sock".into(),
                "unix:///run/user/1000/podman/podman.sock".into(),
                "unix:///run/podman/podman.sock".into(),
            ]
        );
        assert_eq!(list[0].source, "DOCKER_HOST");
        assert_eq!(list[1].source, "context colima");
    }

    #[test]
    fn docker_context_env_beats_config_and_docker_config_moves_it() {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join("elsewhere");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("config.json"), r#"{"currentContext":"a"}"#).unwrap();
        write_context(&cfg, "a", "unix:///a.sock");
        write_context(&cfg, "b", "tcp://10.0.0.2:2376");
        let e = env(
            &[
                (DOCKER_CONFIG, cfg.to_str().unwrap()),
                (DOCKER_CONTEXT, "b"),
            ],
            home.path(),
        );
        let (list, _) = candidates(&e, &read);
        assert_eq!(list[0].source, "context b");
        assert_eq!(list[0].endpoint.to_string(), "tcp://10.0.0.2:2376");
        // Without DOCKER_CONTEXT the config file's currentContext is used.
        let e = env(&[(DOCKER_CONFIG, cfg.to_str().unwrap())], home.path());
        let (list, _) = candidates(&e, &read);
        assert_eq!(list[0].endpoint.to_string(), "unix:///a.sock");
    }

    #[test]
    fn default_context_and_no_config_give_only_sockets() {
        let home = tempfile::tempdir().unwrap();
        let (list, notes) = candidates(&env(&[(DOCKER_CONTEXT, "default")], home.path()), &read);
        assert!(notes.is_empty());
        assert_eq!(list[0].endpoint.to_string(), "unix:///var/run/docker.sock");
    }

    #[test]
    fn broken_context_and_bad_host_are_noted_not_fatal() {
        let home = tempfile::tempdir().unwrap();
        let e = env(
            &[(DOCKER_HOST, "ssh://me@box"), (DOCKER_CONTEXT, "gone")],
            home.path(),
        );
        let (list, notes) = candidates(&e, &read);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("ssh://me@box"), "{notes:?}");
        assert!(notes[1].contains("context gone"), "{notes:?}");
        assert_eq!(list[0].endpoint.to_string(), "unix:///var/run/docker.sock");
    }

    #[test]
    fn tls_from_env() {
        let home = tempfile::tempdir().unwrap();
        let e = env(
            &[
                (DOCKER_HOST, "tcp://h:2376"),
                (DOCKER_TLS_VERIFY, "1"),
                (DOCKER_CERT_PATH, "/certs"),
            ],
            home.path(),
        );
        let (list, _) = candidates(&e, &read);
        assert_eq!(
            list[0].endpoint,
            Endpoint::Tcp {
                addr: "h:2376".into(),
                tls: Some(TlsFiles {
                    ca: "/certs/ca.pem".into(),
                    cert: "/certs/cert.pem".into(),
                    key: "/certs/key.pem".into(),
                })
            }
        );
    }

    #[test]
    fn an_engine_is_named_by_docker_host_or_a_context_but_not_by_default() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let cfg = h.join(".docker");
        std::fs::create_dir_all(&cfg).unwrap();
        // Nothing set: nothing named, the usual sockets are searched.
        assert_eq!(named(&env(&[], h), &read), None);
        assert_eq!(named(&env(&[(DOCKER_CONTEXT, "default")], h), &read), None);
        // DOCKER_HOST names one (a bad one too: it is an error, not skipped).
        let host = named(&env(&[(DOCKER_HOST, "tcp://127.0.0.1:2375")], h), &read);
        assert_eq!(host.unwrap().unwrap().source, "DOCKER_HOST");
        let bad = named(&env(&[(DOCKER_HOST, "ssh://me@box")], h), &read);
        assert!(bad.unwrap().unwrap_err().starts_with("DOCKER_HOST: "));
        // A context: from DOCKER_CONTEXT, or the config's currentContext (`docker context use`).
        write_context(&cfg, "colima", "unix:///c.sock");
        let ctx = named(&env(&[(DOCKER_CONTEXT, "colima")], h), &read);
        assert_eq!(ctx.unwrap().unwrap().source, "context colima");
        std::fs::write(cfg.join("config.json"), r#"{"currentContext":"colima"}"#).unwrap();
        assert_eq!(
            named(&env(&[], h), &read).unwrap().unwrap().source,
            "context colima"
        );
        let gone = named(&env(&[(DOCKER_CONTEXT, "gone")], h), &read);
        assert!(gone.unwrap().unwrap_err().starts_with("context gone: "));
    }

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
