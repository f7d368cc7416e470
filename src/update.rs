//! Self update and the "new version available" notice.
//!
//! `onyx self update`:
//! 1. refuse when the binary belongs to a package manager (Homebrew, `cargo install`), naming the
//!    command that updates it there;
//! 2. ask the releases API (GitHub's, or `ONYX_UPDATE_ROOT` for mirrors and tests) for the newest
//!    release, and pick the archive built for this OS/arch — a clear error when there is none;
//! 3. download it and check its sha256 against the release's `sha256sums.txt` **before** anything
//!    is unpacked; on any failure the running binary is untouched;
//! 4. replace the binary atomically (`self_update` does the download, check and swap).
//!
//! The notice, beside every command but `completions`, `man` and `self update`:
//! 1. a check answered within the last day (the cache file) is used as it is;
//! 2. else a background thread asks the releases API, with a 2-second budget, and caches the
//!    answer; the command never waits for it: when it ends first, the answer is dropped (and the
//!    next command asks again);
//! 3. at the end, a newer release is named with the command that updates this install (`onyx self
//!    update`, `brew upgrade onyx-installer/tap/onyx`, `cargo install --locked --git <repository>
//!    --tag vX.Y.Z onyx`), and only when that release has a build for this platform (cargo builds
//!    from source and needs none).
//!
//! Homebrew and crates.io names are taken: the bare name `onyx` is another project's cask on macOS,
//! and crates.io's `onyx` crate is another project's, so onyx is installed from its own tap
//! ([`BREW_FORMULA`]) and with cargo from its repository ([`cargo_install`]), never by bare name.
//!
//! Never in CI, with `ONYX_NO_UPDATE_CHECK=1` or `DO_NOT_TRACK`, with `-q`, or when stderr is not
//! a terminal; a failed check (offline) is silent. Nothing else is ever sent anywhere.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::env_vars;
use crate::error::Error;

/// The checksum file every release carries.
pub const SUMS_ASSET: &str = "sha256sums.txt";
/// This build's target triple, which release archive names contain.
pub const TARGET: &str = env!("ONYX_BUILD_TARGET");
/// How long the background check may take.
#[cfg(feature = "self-update")]
const NOTICE_BUDGET: Duration = Duration::from_secs(2);
/// How often the notice checks.
const NOTICE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Where releases come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSource {
    /// Base URL of a GitHub-compatible API.
    pub api_root: String,
    pub owner: String,
    pub repo: String,
}

impl UpdateSource {
    /// The repository from Cargo metadata; the API from `ONYX_UPDATE_ROOT` or GitHub's.
    pub fn from_env() -> UpdateSource {
        let root = std::env::var(env_vars::ONYX_UPDATE_ROOT)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "https://api.github.com".into());
        Self::new(&root, env!("CARGO_PKG_REPOSITORY"))
    }

    fn new(api_root: &str, repository_url: &str) -> UpdateSource {
        let mut parts = repository_url
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit('/');
        let repo = parts.next().unwrap_or_default().to_string();
        let owner = parts.next().unwrap_or_default().to_string();
        UpdateSource {
            api_root: api_root.trim_end_matches('/').to_string(),
            owner,
            repo,
        }
    }
}

/// onyx's formula in its own tap (the GitHub repository `onyx-installer/homebrew-tap`, where the
/// release's `onyx.rb` from scripts/homebrew-formula.sh goes): `brew install` and `brew upgrade`
/// take this full name, because the bare name is another project's cask on macOS.
pub const BREW_FORMULA: &str = "onyx-installer/tap/onyx";

/// The repository onyx is published from (Cargo.toml's `repository`).
pub const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// The cargo command that builds onyx from its repository (the crates.io crate of that name is
/// another project), at release `tag` when one is known.
pub fn cargo_install(tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!(
            "cargo install --locked --git {REPOSITORY} --tag v{} onyx",
            t.trim_start_matches('v')
        ),
        None => format!("cargo install --locked --git {REPOSITORY} onyx"),
    }
}

/// `brew upgrade` of onyx's formula.
pub fn brew_upgrade() -> String {
    format!("brew upgrade {BREW_FORMULA}")
}

/// Who installed this binary, and so who updates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallKind {
    /// The install script or a release archive: onyx updates itself.
    Standalone,
    Homebrew,
    Cargo,
}

impl InstallKind {
    /// Judge by where the binary lives.
    pub fn of(exe: &Path, cargo_home: Option<&Path>) -> InstallKind {
        let s = exe.to_string_lossy();
        if s.contains("/Cellar/") || s.contains("/homebrew/") || s.contains("/linuxbrew/") {
            return InstallKind::Homebrew;
        }
        if let Some(cargo_bin) = cargo_home.map(|h| h.join("bin"))
            && exe.parent() == Some(cargo_bin.as_path())
        {
            return InstallKind::Cargo;
        }
        InstallKind::Standalone
    }

    /// This process's binary.
    pub fn current() -> InstallKind {
        let exe = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .unwrap_or_default();
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().join(".cargo")));
        InstallKind::of(&exe, cargo_home.as_deref())
    }

    /// The refusal for package-managed installs.
    pub fn refusal(&self) -> Option<Error> {
        let (by, cmd) = match self {
            InstallKind::Standalone => return None,
            InstallKind::Homebrew => ("Homebrew", brew_upgrade()),
            InstallKind::Cargo => ("cargo install", cargo_install(None)),
        };
        Some(Error::input(
            format!("this onyx was installed by {by}, which must also update it"),
            format!("run `{cmd}`"),
        ))
    }
}

/// The newest release compared with this binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub current: String,
    pub latest: String,
    pub newer_available: bool,
    /// The release has an archive for this OS/arch.
    pub has_build_for_this_platform: bool,
}

/// What `update` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    UpToDate(String),
    Updated { from: String, to: String },
}

#[cfg(feature = "self-update")]
mod release {
    use super::*;
    use crate::error::Result;
    use self_update::backends::github;
    use self_update::update::Release;

    fn updater(source: &UpdateSource, timeout: Option<Duration>) -> Result<github::Update> {
        let mut b = github::Update::configure();
        b.repo_owner(&source.owner)
            .repo_name(&source.repo)
            .api_base_url(&source.api_root)
            .bin_name("onyx")
            .target(TARGET)
            .current_version(env!("CARGO_PKG_VERSION"))
            .checksum_from_asset(SUMS_ASSET)
            .show_download_progress(false)
            .show_output(false)
            .no_confirm(true);
        if let Some(t) = timeout {
            b.timeout(t);
        }
        b.build().map_err(|e| map_err(e, source))
    }

    /// Every failure of the releases side is the environment's (exit 3): the network, the
    /// release server, a corrupt download, a directory onyx may not write; none is bad input.
    pub(super) fn map_err(e: self_update::errors::Error, source: &UpdateSource) -> Error {
        use self_update::errors::Error as E;
        match e {
            E::ChecksumMismatch {
                expected, computed, ..
            } => Error::environment(
                format!(
                    "the downloaded release does not match its checksum \
                     (sha256 {computed}, expected {expected}); nothing was changed"
                ),
                "try again later; if it persists, the release or a proxy is broken: report it",
            ),
            E::ChecksumSourceInvalid { asset, reason, .. } => Error::environment(
                format!("cannot verify {asset}: {reason}; nothing was changed"),
                "the release has no usable checksum file; update by hand from the release page",
            ),
            E::NotFound { url, .. } => Error::environment(
                format!("no release found at {url}"),
                format!(
                    "check {} (or unset it to use GitHub)",
                    env_vars::ONYX_UPDATE_ROOT
                ),
            ),
            E::InstallPathNotWritable { .. } => Error::environment(
                format!("cannot replace the onyx binary: {e}"),
                "re-run with permission to write where onyx is installed",
            ),
            other => Error::environment(
                format!(
                    "cannot update from {}/repos/{}/{}: {other}",
                    source.api_root, source.owner, source.repo
                ),
                "check your network connection (or ONYX_UPDATE_ROOT) and try again",
            ),
        }
    }

    fn latest(source: &UpdateSource, timeout: Option<Duration>) -> Result<Release> {
        let releases = updater(source, timeout)?
            .get_latest_release()
            .map_err(|e| map_err(e, source))?;
        releases.latest().cloned().ok_or_else(|| {
            Error::environment(
                format!(
                    "{}/repos/{}/{} lists no release",
                    source.api_root, source.owner, source.repo
                ),
                "try again later, or check ONYX_UPDATE_ROOT",
            )
        })
    }

    pub fn check(source: &UpdateSource, timeout: Option<Duration>) -> Result<Check> {
        let release = latest(source, timeout)?;
        let current = env!("CARGO_PKG_VERSION").to_string();
        let latest = release.version().trim_start_matches('v').to_string();
        Ok(Check {
            newer_available: self_update::version::bump_is_greater(&current, &latest)
                .unwrap_or(false),
            has_build_for_this_platform: release.asset_for(TARGET, None).is_some(),
            current,
            latest,
        })
    }

    pub fn update(source: &UpdateSource) -> Result<Outcome> {
        let check = check(source, None)?;
        if !check.newer_available {
            return Ok(Outcome::UpToDate(check.current));
        }
        if !check.has_build_for_this_platform {
            return Err(Error::environment(
                format!(
                    "release {} has no build for this platform ({TARGET}); nothing was changed",
                    check.latest
                ),
                format!(
                    "build from source with `{}`, or wait for a release that includes this \
                     platform",
                    super::cargo_install(Some(&check.latest))
                ),
            ));
        }
        updater(source, None)?
            .update()
            .map_err(|e| map_err(e, source))?;
        Ok(Outcome::Updated {
            from: check.current,
            to: check.latest,
        })
    }
}

#[cfg(feature = "self-update")]
pub use release::{check, update};

/// The cached result of the daily check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeCache {
    pub checked_at: u64,
    pub latest: String,
    /// The release has an archive for this platform (a cache written before this was recorded
    /// reads as `false`: no advice rather than a wrong one).
    #[serde(default)]
    pub has_build_for_this_platform: bool,
}

/// The notice for `latest` (if newer than `current`), naming the command that updates `install`;
/// none when the release has no build for this platform and the update would need one.
pub fn notice_line(current: &str, latest: &NoticeCache, install: &InstallKind) -> Option<String> {
    if !newer(current, &latest.latest) {
        return None;
    }
    let command = match install {
        InstallKind::Standalone => "onyx self update".to_string(),
        InstallKind::Homebrew => brew_upgrade(),
        InstallKind::Cargo => cargo_install(Some(&latest.latest)),
    };
    let needs_build = *install != InstallKind::Cargo;
    if needs_build && !latest.has_build_for_this_platform {
        return None;
    }
    Some(format!(
        "onyx {} is available (you have {current}): run `{command}`",
        latest.latest
    ))
}

fn cache_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "onyx").map(|d| d.cache_dir().join("update-check.json"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether the notice may run, from the environment and whether stderr is a terminal.
pub fn notice_allowed(env: impl Fn(&str) -> Option<String>, stderr_is_terminal: bool) -> bool {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    stderr_is_terminal
        && !set(env_vars::ONYX_NO_UPDATE_CHECK)
        && !set(env_vars::DO_NOT_TRACK)
        && !set(env_vars::CI)
}

/// A notice in progress: started before a command, shown (if ready) after it.
pub struct Notice {
    cached: Option<NoticeCache>,
    pending: Option<JoinHandle<Option<NoticeCache>>>,
}

impl Notice {
    pub fn none() -> Notice {
        Notice {
            cached: None,
            pending: None,
        }
    }

    /// The notice of a run: started when the command wants it (`wanted`) and the environment
    /// allows it ([`notice_allowed`], stderr a terminal).
    pub fn for_run(wanted: bool) -> Notice {
        let allowed = wanted
            && notice_allowed(
                |k| std::env::var(k).ok(),
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            );
        Notice::start(allowed)
    }

    /// Start the daily check if it is due and allowed; never blocks.
    pub fn start(allowed: bool) -> Notice {
        if !allowed || !cfg!(feature = "self-update") {
            return Notice::none();
        }
        let Some(file) = cache_file() else {
            return Notice::none();
        };
        let cache: Option<NoticeCache> = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(c) = cache
            && now().saturating_sub(c.checked_at) < NOTICE_INTERVAL.as_secs()
        {
            return Notice {
                cached: Some(c),
                pending: None,
            };
        }
        let pending = std::thread::spawn(move || {
            #[cfg(feature = "self-update")]
            {
                let answer = check(&UpdateSource::from_env(), Some(NOTICE_BUDGET)).ok()?;
                let cache = NoticeCache {
                    checked_at: now(),
                    latest: answer.latest,
                    has_build_for_this_platform: answer.has_build_for_this_platform,
                };
                if let Some(dir) = file.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = std::fs::write(&file, serde_json::to_vec(&cache).unwrap_or_default());
                Some(cache)
            }
            #[cfg(not(feature = "self-update"))]
            {
                let _ = file;
                None
            }
        });
        Notice {
            cached: None,
            pending: Some(pending),
        }
    }

    /// The line to show, if a newer version is known by now (an unfinished check is dropped).
    pub fn finish(self) -> Option<String> {
        let latest = match (self.cached, self.pending) {
            (Some(l), _) => Some(l),
            (None, Some(h)) if h.is_finished() => h.join().ok().flatten(),
            _ => None,
        }?;
        notice_line(env!("CARGO_PKG_VERSION"), &latest, &InstallKind::current())
    }
}

/// `latest` is a higher semantic version than `current`.
pub fn newer(current: &str, latest: &str) -> bool {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.trim_start_matches('v')
            .split(['-', '+'])
            .next()?
            .split('.')
            .map(|p| p.parse().ok())
            .collect()
    };
    matches!((parse(current), parse(latest)), (Some(c), Some(l)) if l > c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_from_cargo_metadata() {
        let s = UpdateSource::new(
            "https://api.github.com/",
            "https://github.com/acme/onyx.git",
        );
        assert_eq!(s.api_root, "https://api.github.com");
        assert_eq!((s.owner.as_str(), s.repo.as_str()), ("acme", "onyx"));
    }

    #[test]
    fn package_managed_installs_are_recognised() {
        let cargo = Path::new("/home/u/.cargo");
        for (exe, kind) in [
            (
                "/opt/homebrew/Cellar/onyx/1.0/bin/onyx",
                InstallKind::Homebrew,
            ),
            ("/home/linuxbrew/.linuxbrew/bin/onyx", InstallKind::Homebrew),
            ("/home/u/.cargo/bin/onyx", InstallKind::Cargo),
            ("/home/u/.local/bin/onyx", InstallKind::Standalone),
            ("/usr/local/bin/onyx", InstallKind::Standalone),
        ] {
            assert_eq!(InstallKind::of(Path::new(exe), Some(cargo)), kind, "{exe}");
        }
        assert!(
            InstallKind::Homebrew
                .refusal()
                .unwrap()
                .hint()
                .unwrap()
                .contains("`brew upgrade onyx-installer/tap/onyx`")
        );
        assert!(
            InstallKind::Cargo
                .refusal()
                .unwrap()
                .hint()
                .unwrap()
                .contains(
                    "`cargo install --locked --git https://github.com/onyx-installer/onyx onyx`"
                )
        );
        assert!(InstallKind::Standalone.refusal().is_none());
    }

    #[test]
    fn notice_is_off_in_ci_for_opt_outs_and_pipes() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(notice_allowed(env(&[]), true));
        assert!(!notice_allowed(env(&[]), false));
        assert!(!notice_allowed(env(&[("CI", "true")]), true));
        assert!(!notice_allowed(env(&[("ONYX_NO_UPDATE_CHECK", "1")]), true));
        assert!(!notice_allowed(env(&[("DO_NOT_TRACK", "1")]), true));
        assert!(notice_allowed(env(&[("DO_NOT_TRACK", "0")]), true));
    }

    #[test]
    fn the_notice_names_the_right_command_and_needs_a_build() {
        let release = |has_build| NoticeCache {
            checked_at: 0,
            latest: "9.9.9".into(),
            has_build_for_this_platform: has_build,
        };
        assert_eq!(
            notice_line("0.1.0", &release(true), &InstallKind::Standalone).as_deref(),
            Some("onyx 9.9.9 is available (you have 0.1.0): run `onyx self update`")
        );
        assert!(
            notice_line("0.1.0", &release(true), &InstallKind::Homebrew)
                .unwrap()
                .contains("`brew upgrade onyx-installer/tap/onyx`")
        );
        // From the repository at the release's tag: crates.io's `onyx` is another project.
        assert_eq!(
            notice_line("0.1.0", &release(true), &InstallKind::Cargo).as_deref(),
            Some(
                "onyx 9.9.9 is available (you have 0.1.0): run `cargo install --locked --git \
                 https://github.com/onyx-installer/onyx --tag v9.9.9 onyx`"
            )
        );
        // No archive for this platform: `self update` (and the formula) could not install it.
        assert_eq!(
            notice_line("0.1.0", &release(false), &InstallKind::Standalone),
            None
        );
        assert_eq!(
            notice_line("0.1.0", &release(false), &InstallKind::Homebrew),
            None
        );
        // cargo builds from source.
        assert!(notice_line("0.1.0", &release(false), &InstallKind::Cargo).is_some());
        // Not newer: nothing.
        assert_eq!(
            notice_line("9.9.9", &release(true), &InstallKind::Standalone),
            None
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(newer("0.1.0", "0.2.0"));
        assert!(newer("0.9.0", "0.10.0"));
        assert!(newer("1.2.3", "v1.2.4"));
        assert!(!newer("1.2.3", "1.2.3"));
        assert!(!newer("1.2.3", "1.2.2"));
        assert!(!newer("1.2.3", "garbage"));
    }
}
