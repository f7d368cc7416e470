//! Steps 1 and 2 of finding the engine, without touching it: the places to try in order
//! ([`candidates`]) and the engine the user named, if any ([`named`]). Pure functions of
//! [`EngineEnv`] and a file reader, so every rule is tested with fake paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Environment variables the discovery reads (Docker's own, not onyx's).
pub const DOCKER_HOST: &str = "DOCKER_HOST";
pub const DOCKER_CONTEXT: &str = "DOCKER_CONTEXT";
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const DOCKER_TLS_VERIFY: &str = "DOCKER_TLS_VERIFY";
pub const DOCKER_CERT_PATH: &str = "DOCKER_CERT_PATH";
pub const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";

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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn env(vars: &[(&str, &str)], home: &Path) -> EngineEnv {
        EngineEnv {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            home: Some(home.to_path_buf()),
            os: "linux".into(),
        }
    }

    pub(super) fn read(p: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(p)
    }

    pub(super) fn write_context(config_dir: &Path, name: &str, host: &str) {
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

    pub(super) fn endpoints(list: &[Candidate]) -> Vec<String> {
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
}
