//! Every environment variable onyx reads, declared once. clap's `env =` attributes, the settings
//! resolver and the docs all use these constants, so a name can't drift between them.

/// Path of the config file to read instead of `<platform config dir>/onyx/config.toml`.
pub const ONYX_CONFIG: &str = "ONYX_CONFIG";
/// Resource profile: `small`, `medium`, `large` or `cluster` (default: sized to the host).
pub const ONYX_PROFILE: &str = "ONYX_PROFILE";
/// Kubernetes namespace to render for (default: none, i.e. the context's current namespace).
pub const ONYX_NAMESPACE: &str = "ONYX_NAMESPACE";
/// Host port the UI is served on at 127.0.0.1 (default 3000).
pub const ONYX_PORT: &str = "ONYX_PORT";
/// Registry mirror (`HOST[:PORT][/PATH]`) to pull Docker Hub images through.
pub const ONYX_REGISTRY_MIRROR: &str = "ONYX_REGISTRY_MIRROR";
/// Any non-empty value turns colour off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// Log filter for `tracing` (e.g. `onyx=debug`); `-v`/`-vv` set a default.
pub const ONYX_LOG: &str = "ONYX_LOG";

/// All of the above, for `onyx --help` and the README table.
pub const ALL: &[(&str, &str)] = &[
    (ONYX_CONFIG, "config file path"),
    (ONYX_PROFILE, "resource profile"),
    (ONYX_NAMESPACE, "namespace"),
    (ONYX_PORT, "UI port on 127.0.0.1"),
    (
        ONYX_REGISTRY_MIRROR,
        "registry mirror for Docker Hub images",
    ),
    (ONYX_LOG, "log filter"),
    (NO_COLOR, "disable colour"),
];
