//! Every environment variable onyx reads, declared once. clap's `env =` attributes, the settings
//! resolver and the docs all use these constants, so a name can't drift between them.

/// Path of the config file to read instead of `<platform config dir>/onyx/config.toml`.
pub const ONYX_CONFIG: &str = "ONYX_CONFIG";
/// Resource profile: `small`, `medium`, `large` or `cluster` (default: sized to the host).
pub const ONYX_PROFILE: &str = "ONYX_PROFILE";
/// Background workers (indexing): `on` or `off` (default: the profile's).
pub const ONYX_INDEXING: &str = "ONYX_INDEXING";
/// The deployed Onyx's own anonymous usage reports to telemetry.onyx.app: `on` or `off`
/// (default: off; onyx itself sends nothing either way).
pub const ONYX_TELEMETRY: &str = "ONYX_TELEMETRY";
/// Kubernetes namespace to render for (default: none, i.e. the context's current namespace).
pub const ONYX_NAMESPACE: &str = "ONYX_NAMESPACE";
/// Kubeconfig context to deploy into (default: onyx's own local cluster).
pub const ONYX_CONTEXT: &str = "ONYX_CONTEXT";
/// Kubeconfig file to read instead of `KUBECONFIG` / `~/.kube/config`.
pub const ONYX_KUBECONFIG: &str = "ONYX_KUBECONFIG";
/// Host port the UI is served on at 127.0.0.1 (default 3000).
pub const ONYX_PORT: &str = "ONYX_PORT";
/// Registry mirror (`HOST[:PORT][/PATH]`) to pull Docker Hub images through.
pub const ONYX_REGISTRY_MIRROR: &str = "ONYX_REGISTRY_MIRROR";
/// Directory for onyx's data (default: the platform data dir + `onyx`); the own cluster's volumes
/// live in its `data/`, the backups `up` takes before an upgrade in its `backups/`.
pub const ONYX_DATA_DIR: &str = "ONYX_DATA_DIR";
/// Any non-empty value turns colour off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// Log filter for `tracing` (e.g. `onyx=debug`); `-v`/`-vv` set a default.
pub const ONYX_LOG: &str = "ONYX_LOG";

/// Base URL of a GitHub-compatible releases API to update from instead of GitHub's (mirrors, tests).
pub const ONYX_UPDATE_ROOT: &str = "ONYX_UPDATE_ROOT";
/// Set to `1` to turn off the once-a-day "new version available" notice.
pub const ONYX_NO_UPDATE_CHECK: &str = "ONYX_NO_UPDATE_CHECK";
/// The cross-tool opt-out (<https://consoledonottrack.com>); also turns the notice off.
pub const DO_NOT_TRACK: &str = "DO_NOT_TRACK";
/// Set by CI systems; no update notice there.
pub const CI: &str = "CI";

/// All of the above, for `onyx --help` and the README table.
pub const ALL: &[(&str, &str)] = &[
    (ONYX_CONFIG, "config file path"),
    (ONYX_PROFILE, "resource profile"),
    (ONYX_INDEXING, "background workers: on or off"),
    (
        ONYX_TELEMETRY,
        "the deployed Onyx's own telemetry: on or off",
    ),
    (ONYX_NAMESPACE, "namespace"),
    (ONYX_CONTEXT, "kubeconfig context"),
    (ONYX_KUBECONFIG, "kubeconfig file"),
    (ONYX_PORT, "UI port on 127.0.0.1"),
    (
        ONYX_REGISTRY_MIRROR,
        "registry mirror for Docker Hub images",
    ),
    (ONYX_DATA_DIR, "data directory (own cluster, backups)"),
    (ONYX_LOG, "log filter"),
    (NO_COLOR, "disable colour"),
    (ONYX_UPDATE_ROOT, "release API for self update"),
    (ONYX_NO_UPDATE_CHECK, "no update notice"),
    (DO_NOT_TRACK, "no update notice"),
];
