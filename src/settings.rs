//! Settings, resolved once per run: flags > `ONYX_*` environment > config file > defaults.
//!
//! The cluster a command talks to ([`GlobalSettings::cluster_for`]): `--context`/`--kubeconfig`
//! (or `ONYX_CONTEXT`/`ONYX_KUBECONFIG`) > the config file's `context`/`kubeconfig` > for the
//! day-2 commands, where the last `up` deployed ([`Remembered`], in onyx's data directory) >
//! onyx's own cluster. `KUBECONFIG` alone picks no cluster: it is only the file a context is
//! read from (as kubectl reads it), so exporting it for other work never sends `onyx up` or
//! `onyx destroy` to another cluster by surprise; each command says on stderr which cluster it
//! talks to, and when `KUBECONFIG`'s current context is another one, how to use it.
//!
//! clap already merges a flag with its environment variable (`env =` in [`crate::cli`]), so
//! resolving only has to fill what both left empty from the config file, then from the
//! defaults, and check the values. Two steps, as uv's `crates/uv/src/settings.rs` does:
//! [`GlobalSettings`] (verbosity, colour, the config file, read and checked once), then one
//! `*Settings` per command holding library values (a [`ConnectOptions`], a
//! [`crate::deploy::UpOptions`], a profile name), never clap types.
//!
//! Where the split lies: the structs and the layering (`profile`, `namespace`, `port` on
//! [`GlobalSettings`]) live here, in the library, so they can be built and tested without
//! clap; each struct's `resolve(args, global)` from the parsed flags lives on the command side,
//! in `commands/settings.rs`, the one place besides `cli.rs` that names the flag structs. The
//! library therefore never imports `crate::cli`, and no `use` cycle runs through here
//! (`scripts/check-use-cycles.py`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::env_vars;
use crate::error::{Error, Result};
use crate::kube::ConnectOptions;
use crate::stack::indexing::Switch;
use crate::stack::profile::ProfileName;

/// Default host port for the UI.
pub const DEFAULT_PORT: u16 = 3000;

/// What may be set in `config.toml`. Unknown keys are an error, not silence.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub profile: Option<ProfileName>,
    pub namespace: Option<String>,
    pub port: Option<u16>,
    /// The kubeconfig context to use (as `--context`).
    pub context: Option<String>,
    /// The kubeconfig file to read (as `--kubeconfig`).
    pub kubeconfig: Option<PathBuf>,
}

/// Where the last `up` deployed, kept per user in onyx's data directory
/// (`<data dir>/last-target.json`) so that the day-2 commands find it without the flags again.
/// `context` and `kubeconfig` both empty: onyx's own cluster.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Remembered {
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub namespace: Option<String>,
}

impl Remembered {
    /// `<data dir>/last-target.json` (the data directory as `up --data-dir` / `ONYX_DATA_DIR`).
    pub fn path(data_dir: Option<&Path>) -> Option<PathBuf> {
        crate::upgrade::data_root(data_dir)
            .ok()
            .map(|d| d.join("last-target.json"))
    }

    /// The record, if one was written and reads back (a broken one is ignored, with a note).
    pub fn load(path: &Path) -> Option<Remembered> {
        let text = std::fs::read_to_string(path).ok()?;
        match serde_json::from_str(&text) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("ignoring {}: {e}", path.display());
                None
            }
        }
    }

    /// Record where `up` deployed: the cluster and namespace as named (an unnamed namespace stays
    /// the context's, as for `up`), the kubeconfig made absolute so it holds from any directory.
    pub fn save(path: &Path, cluster: &ConnectOptions) -> std::io::Result<()> {
        let r = Remembered {
            context: cluster.context.clone(),
            kubeconfig: cluster
                .kubeconfig
                .as_ref()
                .map(|k| std::path::absolute(k).unwrap_or_else(|_| k.clone())),
            namespace: cluster.namespace.clone(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&r).expect("json"))?;
        std::fs::rename(&tmp, path)
    }
}

/// Where the cluster a command talks to was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterSource {
    /// `--context`/`--kubeconfig` or `ONYX_CONTEXT`/`ONYX_KUBECONFIG`.
    Flag,
    /// The config file's `context`/`kubeconfig`.
    Config,
    /// Where the last `up` deployed.
    Remembered,
    /// Nothing named one: onyx's own.
    Own,
}

impl ClusterSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterSource::Flag => "as given",
            ClusterSource::Config => "from the config file",
            ClusterSource::Remembered => "where the last up deployed",
            ClusterSource::Own => "onyx's own",
        }
    }
}

/// How much to say on stderr (the [`crate::ui::Printer`]'s).
pub use crate::ui::Verbosity;

/// The global flags as parsed (`--verbose`, `--quiet`, `--no-color`, `--config`), as plain values.
#[derive(Debug, Default, Clone)]
pub struct GlobalFlags {
    pub verbose: u8,
    pub quiet: bool,
    pub no_color: bool,
    pub config: Option<PathBuf>,
}

/// What every command shares: how much to say, colour, and the config file's values (checked).
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSettings {
    pub verbosity: Verbosity,
    pub color: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Its values (all empty without one).
    pub config: ConfigFile,
    /// Where the last `up` deployed, if recorded ([`Remembered`]).
    pub remembered: Option<Remembered>,
}

/// The settings of a command that names a cluster: the `--context`/`--kubeconfig`/`-n` it was
/// given, which the [`crate::ui::Printer`] repeats in the onyx commands its hints name.
pub trait CommandSettings {
    fn cluster(&self) -> &ConnectOptions;

    /// The line on stderr that says which cluster the command talks to (`None`: it names none
    /// here, or says it itself, as `up` does on its first line).
    fn talking_to(&self) -> Option<String> {
        None
    }
}

/// No cluster flags (`images`, `cluster list`, `version`, ...).
pub const NO_CLUSTER: ConnectOptions = ConnectOptions {
    kubeconfig: None,
    context: None,
    namespace: None,
};

/// A command with nothing to resolve beyond its own flags.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSettings;

impl CommandSettings for NoSettings {
    fn cluster(&self) -> &ConnectOptions {
        &NO_CLUSTER
    }
}

/// `render` and `plan`: the stack to render and where it would be served.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// `None`: size to the host.
    pub profile: Option<ProfileName>,
    pub force: bool,
    pub indexing: Option<Switch>,
    /// The deployed Onyx's own telemetry (`--onyx-telemetry on`; default off).
    pub telemetry: bool,
    /// The UI's host port (sets the URL users open).
    pub port: u16,
    /// Only the namespace is set (`render -n`, or the config file's).
    pub cluster: ConnectOptions,
}

/// The commands that act on an installed stack or on onyx's own cluster (`status`, `logs`,
/// `restart`, `down`, `destroy`, `backup`, `restore`, `doctor`, `open`, `cluster create`).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// The cluster given (no context and no kubeconfig: onyx's own).
    pub cluster: ConnectOptions,
    /// The UI's host port (onyx's own cluster maps its own; this is the fallback and the port
    /// a new node maps).
    pub port: u16,
    /// The profile of the config file (`doctor` sizes with it; no flag sets it here).
    pub profile: Option<ProfileName>,
    /// Where `cluster` was named (said on stderr by every command that talks to it).
    pub source: ClusterSource,
}

impl ClusterSettings {
    /// A cluster was named (--context or --kubeconfig): not onyx's own.
    pub fn given_cluster(&self) -> bool {
        self.cluster.context.is_some() || self.cluster.kubeconfig.is_some()
    }

    /// The one line on stderr that says which cluster the command talks to, and why; with
    /// `KUBECONFIG` pointing elsewhere while onyx's own is used, how to use that one instead.
    /// `kubeconfig_current`: the current context of `KUBECONFIG`, when that is set.
    pub fn talking_to(&self, kubeconfig_current: Option<&str>) -> String {
        let ns = self
            .cluster
            .namespace
            .as_deref()
            .map(|n| format!(", namespace {n}"))
            .unwrap_or_default();
        let mut line = match (&self.cluster.context, &self.cluster.kubeconfig) {
            (None, None) => format!("cluster: onyx's own ({}){ns}", OWN),
            (context, kubeconfig) => {
                let mut what = match context {
                    Some(c) => format!("context {c}"),
                    None => "the current context".to_string(),
                };
                if let Some(k) = kubeconfig {
                    what.push_str(&format!(" of {}", k.display()));
                }
                format!("cluster: {what}{ns} ({})", self.source.as_str())
            }
        };
        if self.source == ClusterSource::Own
            && let Some(current) = kubeconfig_current.filter(|c| *c != OWN)
        {
            line.push_str(&format!(
                "; KUBECONFIG's current context is {current}: `--context {current}` uses it"
            ));
        }
        line
    }
}

const OWN: &str = crate::cluster::CONTEXT_NAME;

/// `up`: everything [`crate::deploy::up`] takes, plus what the command does after it.
#[derive(Debug, Clone)]
pub struct UpSettings {
    /// The profile, port, cluster, timeout, bundle, mirror and LLM choice, resolved.
    pub deploy: crate::deploy::UpOptions,
    /// Print the URL only; don't start a browser.
    pub no_browser: bool,
}

impl CommandSettings for StackSettings {
    fn cluster(&self) -> &ConnectOptions {
        &self.cluster
    }
}

impl CommandSettings for ClusterSettings {
    fn cluster(&self) -> &ConnectOptions {
        &self.cluster
    }

    fn talking_to(&self) -> Option<String> {
        // Named with a flag: the user just said which; errors name it anyway.
        if self.source == ClusterSource::Flag {
            return None;
        }
        // KUBECONFIG's current context, read only where it could be another cluster to point at.
        let current = (self.source == ClusterSource::Own
            && std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()))
        .then(|| kube::config::Kubeconfig::read().ok())
        .flatten()
        .and_then(|k| k.current_context);
        Some(ClusterSettings::talking_to(self, current.as_deref()))
    }
}

impl CommandSettings for UpSettings {
    fn cluster(&self) -> &ConnectOptions {
        &self.deploy.cluster
    }
}

impl GlobalSettings {
    /// Resolve from the process environment and the platform config directory.
    pub fn resolve(global: &GlobalFlags) -> Result<GlobalSettings> {
        let no_color_env = std::env::var_os(env_vars::NO_COLOR).is_some_and(|v| !v.is_empty());
        let mut g = Self::resolve_with(global, no_color_env, default_config_path())?;
        let data_dir = std::env::var_os(env_vars::ONYX_DATA_DIR).map(PathBuf::from);
        g.remembered = Remembered::path(data_dir.as_deref()).and_then(|p| Remembered::load(&p));
        Ok(g)
    }

    /// Resolve with the environment facts passed in (for tests). The config file's values are
    /// checked here, whatever the command: a bad file names itself and the key.
    pub fn resolve_with(
        global: &GlobalFlags,
        no_color_env: bool,
        default_config: Option<PathBuf>,
    ) -> Result<GlobalSettings> {
        let (config, config_file) = match &global.config {
            // Named explicitly: it must exist.
            Some(path) => {
                if !path.exists() {
                    return Err(Error::ConfigMissing { path: path.clone() });
                }
                (load_config(path)?, Some(path.clone()))
            }
            None => match default_config {
                Some(path) if path.exists() => (load_config(&path)?, Some(path)),
                _ => (ConfigFile::default(), None),
            },
        };
        if let Some(path) = &config_file {
            check_config(&config).map_err(|b| match *b {
                (key, Error::Input { message, hint }) => Error::Config {
                    path: path.clone(),
                    message: format!("key `{key}`: {message} ({hint})"),
                },
                (_, e) => e,
            })?;
        }

        let verbosity = match (global.quiet, global.verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            (false, _) => Verbosity::Trace,
        };
        Ok(GlobalSettings {
            verbosity,
            color: !(global.no_color || no_color_env),
            config_file,
            config,
            remembered: None,
        })
    }

    /// The profile: the one given, else the config file's (`None`: size to the machine).
    pub fn profile(&self, given: Option<ProfileName>) -> Option<ProfileName> {
        given.or(self.config.profile)
    }

    /// The namespace: the one given (checked), else the config file's.
    pub fn namespace(&self, given: Option<String>) -> Result<Option<String>> {
        if let Some(ns) = &given {
            validate_namespace(ns)?;
        }
        Ok(given.or_else(|| self.config.namespace.clone()))
    }

    /// The UI port: the one given (not 0), else the config file's, else 3000.
    pub fn port(&self, given: Option<u16>) -> Result<u16> {
        match given.or(self.config.port).unwrap_or(DEFAULT_PORT) {
            0 => Err(port_zero()),
            port => Ok(port),
        }
    }

    /// The cluster a command talks to, and where it was named (the precedence in this module's
    /// header): the flags, else the config file's, else — when `remember` (the day-2 commands) —
    /// where the last `up` deployed, else onyx's own. The namespace: the flag, else the config
    /// file's, else the one remembered with the cluster.
    pub fn cluster_for(
        &self,
        context: Option<String>,
        kubeconfig: Option<PathBuf>,
        namespace: Option<String>,
        remember: bool,
    ) -> Result<(ConnectOptions, ClusterSource)> {
        let namespace = self.namespace(namespace)?;
        if context.is_some() || kubeconfig.is_some() {
            return Ok((
                ConnectOptions {
                    kubeconfig,
                    context,
                    namespace,
                },
                ClusterSource::Flag,
            ));
        }
        if self.config.context.is_some() || self.config.kubeconfig.is_some() {
            return Ok((
                ConnectOptions {
                    kubeconfig: self.config.kubeconfig.clone(),
                    context: self.config.context.clone(),
                    namespace,
                },
                ClusterSource::Config,
            ));
        }
        if remember && let Some(r) = &self.remembered {
            let source = if r.context.is_some() || r.kubeconfig.is_some() {
                ClusterSource::Remembered
            } else {
                ClusterSource::Own
            };
            return Ok((
                ConnectOptions {
                    kubeconfig: r.kubeconfig.clone(),
                    context: r.context.clone(),
                    namespace: namespace.or_else(|| r.namespace.clone()),
                },
                source,
            ));
        }
        Ok((
            ConnectOptions {
                kubeconfig: None,
                context: None,
                namespace,
            },
            ClusterSource::Own,
        ))
    }

    /// The cluster named by `--context`/`--kubeconfig`/`-n` (the namespace layered as above).
    pub fn cluster(
        &self,
        context: Option<String>,
        kubeconfig: Option<PathBuf>,
        namespace: Option<String>,
    ) -> Result<ConnectOptions> {
        Ok(ConnectOptions {
            kubeconfig,
            context,
            namespace: self.namespace(namespace)?,
        })
    }
}

/// The config file's values that types alone don't check, with the key at fault.
fn check_config(config: &ConfigFile) -> std::result::Result<(), Box<(&'static str, Error)>> {
    if let Some(ns) = &config.namespace {
        validate_namespace(ns).map_err(|e| Box::new(("namespace", e)))?;
    }
    if config.port == Some(0) {
        return Err(Box::new((
            "port",
            Error::input(
                "0 is not a usable UI port",
                "give a port between 1 and 65535, e.g. 3000",
            ),
        )));
    }
    Ok(())
}

fn port_zero() -> Error {
    Error::input(
        "port 0 is not a usable UI port",
        "pick a port between 1 and 65535 with --port (default 3000)",
    )
}

/// `config.toml` in the platform config directory (`~/.config/onyx` on Linux,
/// `~/Library/Application Support/onyx` on macOS, `%APPDATA%\onyx\config` on Windows).
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "onyx").map(|d| d.config_dir().join("config.toml"))
}

/// Read and strictly parse a config file; errors name the file, the line and the key.
pub fn load_config(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    parse_config(&text).map_err(|message| Error::Config {
        path: path.to_path_buf(),
        message,
    })
}

/// Parse config text; the error message carries the line, column and offending key.
pub fn parse_config(text: &str) -> std::result::Result<ConfigFile, String> {
    toml::from_str::<ConfigFile>(text).map_err(|e| {
        let mut message = e.message().trim().to_string();
        if let Some(span) = e.span() {
            let line = text[..span.start].matches('\n').count() + 1;
            let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
            message = format!("line {line}: {message}\n  | {line_text}");
        }
        message
    })
}

/// A Kubernetes namespace name: an RFC 1123 label.
pub fn validate_namespace(ns: &str) -> Result<()> {
    let ok = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::input(
            format!("{ns:?} is not a valid Kubernetes namespace name"),
            "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(config: Option<PathBuf>) -> GlobalFlags {
        GlobalFlags {
            verbose: 0,
            quiet: false,
            no_color: false,
            config,
        }
    }

    #[test]
    fn flags_beat_config_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "profile = \"medium\"\nnamespace = \"from-file\"\nport = 4000\n",
        )
        .unwrap();

        let g = GlobalSettings::resolve_with(&global(None), false, Some(path.clone())).unwrap();
        assert_eq!(g.profile(None), Some(ProfileName::Medium));
        assert_eq!(g.namespace(None).unwrap().as_deref(), Some("from-file"));
        assert_eq!(g.port(None).unwrap(), 4000);
        assert_eq!(g.config_file.as_deref(), Some(path.as_path()));

        assert_eq!(
            g.profile(Some(ProfileName::Small)),
            Some(ProfileName::Small)
        );
        assert_eq!(
            g.namespace(Some("from-flag".into())).unwrap().as_deref(),
            Some("from-flag")
        );
        assert_eq!(g.port(Some(5000)).unwrap(), 5000);
        let cluster = g.cluster(Some("ctx".into()), None, None).unwrap();
        assert_eq!(cluster.context.as_deref(), Some("ctx"));
        assert_eq!(cluster.namespace.as_deref(), Some("from-file"));

        let defaults = GlobalSettings::resolve_with(&global(None), false, None).unwrap();
        assert_eq!(defaults.profile(None), None);
        assert_eq!(defaults.port(None).unwrap(), DEFAULT_PORT);
        assert_eq!(defaults.namespace(None).unwrap(), None);
        assert!(defaults.color);
    }

    #[test]
    fn given_values_are_checked() {
        let g = GlobalSettings::resolve_with(&global(None), false, None).unwrap();
        assert!(matches!(g.port(Some(0)), Err(Error::Input { .. })));
        assert!(matches!(
            g.namespace(Some("Bad_NS".into())),
            Err(Error::Input { .. })
        ));
    }

    #[test]
    fn bad_config_values_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for (text, key) in [
            ("namespace = \"Bad_NS\"\n", "namespace"),
            ("port = 0\n", "port"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err =
                GlobalSettings::resolve_with(&global(None), false, Some(path.clone())).unwrap_err();
            match err {
                Error::Config { path: p, message } => {
                    assert_eq!(p, path);
                    assert!(message.starts_with(&format!("key `{key}`")), "{message}");
                }
                e => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn no_color_from_env_or_flag() {
        let s = GlobalSettings::resolve_with(&global(None), true, None).unwrap();
        assert!(!s.color);
        let mut g = global(None);
        g.no_color = true;
        let s = GlobalSettings::resolve_with(&g, false, None).unwrap();
        assert!(!s.color);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = parse_config("port = 3000\nprofil = \"small\"\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(err.contains("profil"), "{err}");
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let err = parse_config("namespace = \"ok\"\nport = \"high\"\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(err.contains("port"), "{err}");
    }

    #[test]
    fn explicit_missing_config_is_an_error() {
        let err = GlobalSettings::resolve_with(
            &global(Some("/nonexistent/onyx.toml".into())),
            false,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, Error::ConfigMissing { .. }));
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(validate_namespace("onyx").is_ok());
        assert!(validate_namespace("team-a1").is_ok());
        for bad in ["", "Onyx", "-a", "a-", "a_b", &"x".repeat(64)] {
            assert!(validate_namespace(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_cluster_is_flag_then_config_then_remembered_then_own() {
        let mut g = GlobalSettings::resolve_with(&global(None), false, None).unwrap();
        let remembered = Remembered {
            context: Some("prod".into()),
            kubeconfig: Some("/k/prod".into()),
            namespace: Some("team".into()),
        };
        g.remembered = Some(remembered.clone());
        // Remembered, for the day-2 commands only (with its namespace).
        let (c, s) = g.cluster_for(None, None, None, true).unwrap();
        assert_eq!(s, ClusterSource::Remembered);
        assert_eq!(
            (c.context.as_deref(), c.namespace.as_deref()),
            (Some("prod"), Some("team"))
        );
        let (c, s) = g.cluster_for(None, None, None, false).unwrap();
        assert_eq!((c.context, s), (None, ClusterSource::Own));
        // A namespace flag keeps the remembered cluster.
        let (c, _) = g
            .cluster_for(None, None, Some("other".into()), true)
            .unwrap();
        assert_eq!(c.namespace.as_deref(), Some("other"));
        // The config file's context beats the record.
        g.config.context = Some("staging".into());
        let (c, s) = g.cluster_for(None, None, None, true).unwrap();
        assert_eq!(
            (c.context.as_deref(), s),
            (Some("staging"), ClusterSource::Config)
        );
        // A flag beats both; the config file's kubeconfig does not leak into it.
        g.config.kubeconfig = Some("/k/staging".into());
        let (c, s) = g.cluster_for(Some("dev".into()), None, None, true).unwrap();
        assert_eq!(
            (c.context.as_deref(), s),
            (Some("dev"), ClusterSource::Flag)
        );
        assert_eq!(c.kubeconfig, None);
        // A record of the own cluster is the own cluster.
        let mut g = GlobalSettings::resolve_with(&global(None), false, None).unwrap();
        g.remembered = Some(Remembered::default());
        assert_eq!(
            g.cluster_for(None, None, None, true).unwrap().1,
            ClusterSource::Own
        );
        // The record round-trips through its file, the kubeconfig made absolute.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("onyx/last-target.json");
        let opts = ConnectOptions {
            kubeconfig: Some("rel/kubeconfig".into()),
            context: Some("prod".into()),
            namespace: Some("team".into()),
        };
        Remembered::save(&path, &opts).unwrap();
        let back = Remembered::load(&path).unwrap();
        assert!(back.kubeconfig.unwrap().is_absolute());
        assert_eq!(back.namespace.as_deref(), Some("team"));
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(Remembered::load(&path), None);
    }

    #[test]
    fn the_line_says_which_cluster_and_how_to_use_kubeconfigs() {
        let own = ClusterSettings {
            cluster: NO_CLUSTER,
            port: 3000,
            profile: None,
            source: ClusterSource::Own,
        };
        assert_eq!(own.talking_to(None), "cluster: onyx's own (kind-onyx)");
        assert_eq!(
            own.talking_to(Some("kind-onyx")),
            "cluster: onyx's own (kind-onyx)"
        );
        assert_eq!(
            own.talking_to(Some("prod")),
            "cluster: onyx's own (kind-onyx); KUBECONFIG's current context is prod: \
             `--context prod` uses it"
        );
        let remembered = ClusterSettings {
            cluster: ConnectOptions {
                kubeconfig: None,
                context: Some("prod".into()),
                namespace: Some("team".into()),
            },
            source: ClusterSource::Remembered,
            ..own
        };
        assert_eq!(
            remembered.talking_to(Some("other")),
            "cluster: context prod, namespace team (where the last up deployed)"
        );
    }
}
