//! Settings, resolved once: flags > `ONYX_*` environment > config file > defaults.
//!
//! clap already merges a flag with its environment variable (`env =` in [`crate::cli`]), so this
//! step only has to fill what both left empty from the config file, then from the defaults, and
//! check the values. Commands take a [`Settings`], never raw flags or the environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::env_vars;
use crate::error::{Error, Result};
use crate::stack::profile::ProfileName;

/// Default host port for the UI.
pub const DEFAULT_PORT: u16 = 3000;

/// What may be set in `config.toml`. Unknown keys are an error, not silence.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub profile: Option<ProfileName>,
    pub namespace: Option<String>,
    pub port: Option<u16>,
}

/// How much to say on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    Trace,
}

/// Values given for one invocation (flags, or their env vars as clap merged them).
#[derive(Debug, Default, Clone)]
pub struct Given {
    pub profile: Option<ProfileName>,
    pub force: bool,
    pub namespace: Option<String>,
    pub port: Option<u16>,
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
}

/// Everything a command needs to know about how it was asked to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub verbosity: Verbosity,
    pub color: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// `None`: size to the host.
    pub profile: Option<ProfileName>,
    pub force: bool,
    pub namespace: Option<String>,
    pub port: u16,
    /// Kubeconfig context given (`None`: onyx's own cluster).
    pub context: Option<String>,
    /// Kubeconfig file given (`None`: kubectl's default).
    pub kubeconfig: Option<PathBuf>,
}

impl Settings {
    /// The cluster given (no context and no kubeconfig: onyx's own).
    pub fn connect_options(&self) -> crate::kube::ConnectOptions {
        crate::kube::ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Resolve from the process environment and the platform config directory.
    pub fn resolve(global: &GlobalArgs, given: Given) -> Result<Settings> {
        let no_color_env = std::env::var_os(env_vars::NO_COLOR).is_some_and(|v| !v.is_empty());
        Self::resolve_with(global, given, no_color_env, default_config_path())
    }

    /// Resolve with the environment facts passed in (for tests).
    pub fn resolve_with(
        global: &GlobalArgs,
        given: Given,
        no_color_env: bool,
        default_config: Option<PathBuf>,
    ) -> Result<Settings> {
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

        let verbosity = match (global.quiet, global.verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            (false, _) => Verbosity::Trace,
        };

        // A bad value from the config file names the file and the key, like a parse error.
        let from_file = |key: &str, e: Error| match (&config_file, e) {
            (Some(path), Error::Input { message, hint }) => Error::Config {
                path: path.clone(),
                message: format!("key `{key}`: {message} ({hint})"),
            },
            (_, e) => e,
        };
        if given.namespace.is_none()
            && let Some(ns) = &config.namespace
        {
            validate_namespace(ns).map_err(|e| from_file("namespace", e))?;
        }
        let namespace = given.namespace.or(config.namespace);
        if let Some(ns) = &namespace {
            validate_namespace(ns)?;
        }
        if given.port.is_none() && config.port == Some(0) {
            return Err(from_file(
                "port",
                Error::input(
                    "0 is not a usable UI port",
                    "give a port between 1 and 65535, e.g. 3000",
                ),
            ));
        }
        let port = given.port.or(config.port).unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(port_zero());
        }

        Ok(Settings {
            verbosity,
            color: !(global.no_color || no_color_env),
            config_file,
            profile: given.profile.or(config.profile),
            force: given.force,
            namespace,
            port,
            context: given.context,
            kubeconfig: given.kubeconfig,
        })
    }
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

/// A duration as people write it: `90s`, `20m`, `1h`, `1h30m`, or plain seconds.
pub fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration (e.g. 90s, 20m, 1h30m)");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut total = std::time::Duration::ZERO;
    let mut number = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            "ms"
        } else {
            match c {
                'h' => "h",
                'm' => "m",
                's' => "s",
                _ => return Err(bad()),
            }
        };
        let n: f64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let secs = match unit {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            _ => n / 1000.0,
        };
        total += std::time::Duration::from_secs_f64(secs);
    }
    if !number.is_empty() || total.is_zero() {
        return Err(bad());
    }
    Ok(total)
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

    fn global(config: Option<PathBuf>) -> GlobalArgs {
        GlobalArgs {
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

        let from_file =
            Settings::resolve_with(&global(None), Given::default(), false, Some(path.clone()))
                .unwrap();
        assert_eq!(from_file.profile, Some(ProfileName::Medium));
        assert_eq!(from_file.namespace.as_deref(), Some("from-file"));
        assert_eq!(from_file.port, 4000);
        assert_eq!(from_file.config_file.as_deref(), Some(path.as_path()));

        let given = Given {
            profile: Some(ProfileName::Small),
            namespace: Some("from-flag".into()),
            port: Some(5000),
            force: true,
            ..Given::default()
        };
        let from_flags = Settings::resolve_with(&global(None), given, false, Some(path)).unwrap();
        assert_eq!(from_flags.profile, Some(ProfileName::Small));
        assert_eq!(from_flags.namespace.as_deref(), Some("from-flag"));
        assert_eq!(from_flags.port, 5000);
        assert!(from_flags.force);

        let defaults =
            Settings::resolve_with(&global(None), Given::default(), false, None).unwrap();
        assert_eq!(defaults.profile, None);
        assert_eq!(defaults.port, DEFAULT_PORT);
        assert_eq!(defaults.namespace, None);
        assert!(defaults.color);
    }

    #[test]
    fn no_color_from_env_or_flag() {
        let s = Settings::resolve_with(&global(None), Given::default(), true, None).unwrap();
        assert!(!s.color);
        let mut g = global(None);
        g.no_color = true;
        let s = Settings::resolve_with(&g, Given::default(), false, None).unwrap();
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
        let err = Settings::resolve_with(
            &global(Some("/nonexistent/onyx.toml".into())),
            Given::default(),
            false,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, Error::ConfigMissing { .. }));
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("20m"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "m", "5x", "0s", "10 minutes"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(validate_namespace("onyx").is_ok());
        assert!(validate_namespace("team-a1").is_ok());
        for bad in ["", "Onyx", "-a", "a-", "a_b", &"x".repeat(64)] {
            assert!(validate_namespace(bad).is_err(), "{bad:?} accepted");
        }
    }
}
