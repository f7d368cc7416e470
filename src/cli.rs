//! Command-line types only (clap derive); no logic. Raw flags are turned into each command's
//! settings ([`crate::settings`]) by `commands/settings.rs`, never read directly by commands.
//!
//! Past 800 lines on purpose: every subcommand's flags with their help text, in one file, so
//! the whole command line reads in one place (STYLE 2: `cli.rs` holds the clap types); the only
//! functions are [`parse_duration`], the value parser of `--timeout`, and [`Command::name`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env_vars;
use crate::stack::profile::ProfileName;

/// Run the Onyx AI-chat stack on this machine or on any Kubernetes cluster, with one command.
#[derive(Debug, Parser)]
#[command(name = "onyx", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// More detail on stderr (-v: debug, -vv: trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// No colour in messages (also: NO_COLOR set to anything)
    #[arg(long, global = true)]
    pub no_color: bool,

    /// Config file to read instead of the platform default
    ///
    /// Default: `config.toml` in the platform config directory (on Linux
    /// `~/.config/onyx/config.toml`). Keys: profile, namespace, port.
    #[arg(long, global = true, env = env_vars::ONYX_CONFIG, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install or update the stack and wait until every service is ready
    ///
    /// With --context (or --kubeconfig) onyx deploys into that cluster; without, into onyx's own
    /// local cluster. Safe to run again: a healthy stack is verified in about a second, a failed
    /// or interrupted run is resumed, and passwords already in the cluster are kept.
    Up(UpArgs),

    /// Show each service: ready/desired, restarts, age, state, image (exit 0 only when all are
    /// ready)
    Status(StatusArgs),

    /// Print a service's logs
    Logs(LogsArgs),

    /// Restart a service (new pods, like `kubectl rollout restart`)
    Restart(RestartArgs),

    /// Stop the stack: scale every service to zero, keeping data and passwords
    ///
    /// `onyx up` brings it back with the same data.
    Down(DownArgs),

    /// Remove the stack; its data (volumes) only with --data
    Destroy(DestroyArgs),

    /// Print the Kubernetes objects of the stack, exactly as onyx would apply them
    ///
    /// For users who outgrow one machine: apply the output with kubectl or GitOps to any cluster.
    /// The namespace must admit Pod Security level `baseline` (not `restricted`: the API's
    /// image-caches init container and the background workers run as root, as the Onyx images
    /// require); on OpenShift, an SCC that admits fixed UIDs and root, such as a copy of `anyuid`
    /// that also allows the `runtime/default` seccomp profile every pod sets (the built-in `anyuid`
    /// lists no seccomp profiles; not `restricted-v2`). The output holds freshly generated
    /// credentials unless --skip-secrets.
    Render(RenderArgs),

    /// Show the host, the profile chosen for it and what each service gets
    Plan(PlanArgs),

    /// Work with the container images the stack needs
    #[command(subcommand)]
    Images(ImagesCommand),

    /// Manage onyx's own local Kubernetes cluster (a kind-compatible node in Docker)
    ///
    /// The node is made through the Docker API (no kind or docker binary needed), its kubeconfig
    /// is merged into yours as context kind-onyx, and the stack's data lives in the Docker volume
    /// `onyx-data`, which survives `cluster delete` + `cluster create` (`cluster delete --purge`
    /// removes it).
    #[command(subcommand)]
    Cluster(ClusterCommand),

    /// Open the Onyx UI in the browser, and print its URL on stdout
    ///
    /// The browser is the one BROWSER names (your explicit choice, used also over SSH and without
    /// a display), else the system's default, which is not started on an SSH session or without a
    /// display: then only the URL is printed.
    Open(OpenArgs),

    /// Print a shell completion script
    ///
    /// bash, zsh, fish, powershell or elvish; e.g. bash: `onyx completions bash >
    /// ~/.local/share/bash-completion/completions/onyx`
    Completions(CompletionsArgs),

    /// Print onyx's version and the Onyx stack version it deploys
    Version(VersionArgs),

    /// Check the machine, the cluster and every service, with a fix for each problem
    Doctor(DoctorArgs),

    /// Save the Onyx database to a file (pg_dump through the PostgreSQL pod)
    Backup(BackupArgs),

    /// Load a backup into the Onyx database (checked before anything is touched)
    Restore(RestoreArgs),

    /// Print onyx's man page (roff), for packagers
    #[command(hide = true)]
    Man,

    /// Manage onyx itself
    #[cfg(feature = "self-update")]
    #[command(name = "self", subcommand)]
    SelfCmd(SelfCommand),
}

impl Command {
    /// The command words as typed (`up`, `images pull`), for a hint to repeat.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Up(_) => "up",
            Command::Status(_) => "status",
            Command::Logs(_) => "logs",
            Command::Restart(_) => "restart",
            Command::Down(_) => "down",
            Command::Destroy(_) => "destroy",
            Command::Render(_) => "render",
            Command::Plan(_) => "plan",
            Command::Images(ImagesCommand::List(_)) => "images list",
            Command::Images(ImagesCommand::Pull(_)) => "images pull",
            Command::Images(ImagesCommand::Save(_)) => "images save",
            Command::Images(ImagesCommand::Load(_)) => "images load",
            Command::Cluster(ClusterCommand::Create(_)) => "cluster create",
            Command::Cluster(ClusterCommand::Delete(_)) => "cluster delete",
            Command::Cluster(ClusterCommand::List(_)) => "cluster list",
            Command::Cluster(ClusterCommand::Status(_)) => "cluster status",
            Command::Cluster(ClusterCommand::Load(_)) => "cluster load",
            Command::Open(_) => "open",
            Command::Completions(_) => "completions",
            Command::Version(_) => "version",
            Command::Doctor(_) => "doctor",
            Command::Backup(_) => "backup",
            Command::Restore(_) => "restore",
            Command::Man => "man",
            #[cfg(feature = "self-update")]
            Command::SelfCmd(SelfCommand::Update(_)) => "self update",
        }
    }
}

#[cfg(feature = "self-update")]
#[derive(Debug, Subcommand)]
pub enum SelfCommand {
    /// Update onyx to the newest release (checksum verified before anything is replaced)
    ///
    /// Installs made by Homebrew or `cargo install` are updated by those tools instead.
    Update(SelfUpdateArgs),
}

#[cfg(feature = "self-update")]
#[derive(Debug, Args)]
pub struct SelfUpdateArgs {
    /// Only report whether a newer release exists; change nothing
    #[arg(long)]
    pub check: bool,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

/// Flags that choose what stack is rendered, shared by the commands that render it.
#[derive(Debug, Args, Clone, Default)]
pub struct StackArgs {
    /// Resource profile (default: the largest that fits this machine)
    #[arg(long, env = env_vars::ONYX_PROFILE, value_enum)]
    pub profile: Option<ProfileName>,

    /// Use this profile even if the machine looks too small for it
    #[arg(long)]
    pub force: bool,

    /// Host port for the UI on 127.0.0.1 (sets the URL users open)
    #[arg(long, env = env_vars::ONYX_PORT, value_name = "PORT")]
    pub port: Option<u16>,

    /// Run Onyx's background workers, which index connectors, uploads and search
    ///
    /// Default: on for medium, large and cluster where the machine holds them, off for small.
    /// `up` keeps the choice in the cluster: an `off` stays off on re-runs until `--indexing on`.
    #[arg(long, env = env_vars::ONYX_INDEXING, value_enum, value_name = "on|off")]
    pub indexing: Option<crate::stack::indexing::Switch>,

    /// Let the deployed Onyx send its anonymous usage reports to telemetry.onyx.app
    ///
    /// Default: off (Onyx's DISABLE_TELEMETRY=true). onyx itself sends nothing either way.
    #[arg(long, env = env_vars::ONYX_TELEMETRY, value_enum, value_name = "on|off")]
    pub onyx_telemetry: Option<crate::stack::indexing::Switch>,
}

/// Which cluster and namespace the stack runs in, shared by the day-2 commands (status, logs,
/// restart, down, destroy, doctor, backup, restore).
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Kubeconfig context of the cluster the stack runs in (default: onyx's own local cluster)
    #[arg(long, env = env_vars::ONYX_CONTEXT, value_name = "NAME")]
    pub context: Option<String>,

    /// Kubeconfig file to read (default: KUBECONFIG, else ~/.kube/config)
    #[arg(long, env = env_vars::ONYX_KUBECONFIG, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace the stack was installed in (default: the context's current namespace)
    #[arg(short, long, env = env_vars::ONYX_NAMESPACE, value_name = "NS")]
    pub namespace: Option<String>,
}

/// Where `onyx up` deploys: the same flags as [`ClusterArgs`], with what `up` does with them.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Kubeconfig context to deploy into (default: onyx's own local cluster)
    ///
    /// Any cluster kubectl can reach: Docker Desktop, OrbStack, k3d, minikube, kind, EKS, GKE;
    /// OpenShift with an `anyuid`-like SCC that allows `runtime/default` seccomp (the stack runs
    /// fixed UIDs and two root containers; see `onyx render --help`).
    #[arg(long, env = env_vars::ONYX_CONTEXT, value_name = "NAME")]
    pub context: Option<String>,

    /// Kubeconfig file to read (default: KUBECONFIG, else ~/.kube/config)
    #[arg(long, env = env_vars::ONYX_KUBECONFIG, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace to deploy into (default: the context's current namespace); created if missing
    #[arg(short, long, env = env_vars::ONYX_NAMESPACE, value_name = "NS")]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    #[command(flatten)]
    pub cluster: TargetArgs,

    /// Give up when the stack is not ready after this long (e.g. 90s, 20m, 1h)
    ///
    /// Services have their own limits too (a first start of the API or Vespa may take minutes).
    /// Nothing is torn down on a timeout: run `onyx up` again to keep waiting.
    #[arg(long, value_name = "DURATION", default_value = "20m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// Don't open the browser at the end; only print the URL
    #[arg(long)]
    pub no_browser: bool,

    /// Install offline from a bundle written by `onyx images save`
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// HF_HUB_OFFLINE on the deployed Onyx (on with --bundle); kept on re-runs until changed
    #[arg(long, value_enum, value_name = "on|off")]
    pub hub_offline: Option<crate::stack::indexing::Switch>,

    /// Pull Docker Hub images through this registry mirror (HOST[:PORT][/PATH])
    ///
    /// The cluster's nodes pull `HOST/library/nginx:1.23.4-alpine` for `nginx:1.23.4-alpine`.
    #[arg(long, env = env_vars::ONYX_REGISTRY_MIRROR, value_name = "HOST")]
    pub registry_mirror: Option<String>,

    /// On a cluster onyx did not create: keep a port-forward to the gateway on
    /// 127.0.0.1:--port running after `up` (until Ctrl-C), reconnecting when the pod restarts
    #[arg(long)]
    pub forward: bool,

    /// Don't back up the database before upgrading to another Onyx release
    ///
    /// When the stack runs an older Onyx release than this onyx deploys, `up` first writes a
    /// backup to `<data dir>/backups/` (the newest 3 are kept) and stops if that fails.
    #[arg(long)]
    pub no_backup: bool,

    /// Don't ask before a --profile that shrinks the running stack (lower limits, fewer services)
    ///
    /// A re-run keeps the installed profile; naming a smaller one asks first on a terminal and
    /// needs --yes without one.
    #[arg(short, long)]
    pub yes: bool,

    /// Host directory that holds onyx's data: the backups taken before upgrades (`backups/`)
    /// and an older onyx's own-cluster data (`data/`)
    ///
    /// Default: the platform data directory + `onyx` (on Linux `~/.local/share/onyx`). The own
    /// cluster's volumes live in the Docker volume `onyx-data`.
    #[arg(long, env = env_vars::ONYX_DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(flatten)]
    pub llm: LlmArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Host port of the UI (for the URL shown)
    #[arg(long, env = env_vars::ONYX_PORT, value_name = "PORT")]
    pub port: Option<u16>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The service (postgresql, redis, minio, vespa, inference-model-server, api-server,
    /// web-server, nginx)
    #[arg(value_name = "SERVICE")]
    pub service: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Keep printing new lines
    #[arg(short, long)]
    pub follow: bool,

    /// The run before the last restart (why it crashed)
    #[arg(short, long)]
    pub previous: bool,

    /// The container to read (default: the service's own)
    ///
    /// An init container too: the API's `wait-for-dependencies` and `migrate` (the first start's
    /// migrations, minutes) run before its main container starts. Without -c, while the main
    /// container has not started, the init container that holds the pod is shown (stderr says
    /// so).
    #[arg(short, long, value_name = "CONTAINER")]
    pub container: Option<String>,

    /// Only the last N lines
    #[arg(long, value_name = "N")]
    pub tail: Option<i64>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// The service to restart
    #[arg(value_name = "SERVICE")]
    pub service: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Also delete the data: the volumes (and with them every chat and document) and passwords
    #[arg(long)]
    pub data: bool,

    /// Don't ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Namespace to put in every object (default: none; kubectl's current namespace applies)
    #[arg(short, long, env = env_vars::ONYX_NAMESPACE, value_name = "NS")]
    pub namespace: Option<String>,

    /// The URL users open, when it is not http://localhost:PORT (e.g. behind your own ingress)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Keep the credentials from these Secrets instead of generating new ones
    ///
    /// A YAML or JSON file with the onyx-postgresql, onyx-redis, onyx-minio and onyx-app Secrets,
    /// e.g. an earlier render or `kubectl get secret onyx-postgresql onyx-redis onyx-minio onyx-app -o yaml`.
    #[arg(long, value_name = "FILE")]
    pub reuse_secrets: Option<PathBuf>,

    /// Expose the gateway as a NodePort on this port (onyx's own cluster uses 30080)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(30000..=32767))]
    pub node_port: Option<u16>,

    /// Leave the Secrets out (you manage them yourself, e.g. with an external secret store)
    ///
    /// The pods then need onyx-postgresql, onyx-redis, onyx-minio and onyx-app to exist with
    /// every key an earlier render gives them.
    #[arg(long, conflicts_with = "reuse_secrets")]
    pub skip_secrets: bool,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = ManifestFormat::Yaml)]
    pub output: ManifestFormat,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Plan for a machine with this much memory instead of this one (e.g. 8GiB, 16G, 6144MiB)
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// Plan for a machine with this many CPUs instead of this one
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Print the pinned image references (the stack's and the local cluster's node image)
    List(ImagesListArgs),

    /// Pull every image the stack needs into the Docker engine, several at once
    ///
    /// Images already present are skipped; transient registry errors are retried. With a registry
    /// mirror, Docker Hub images are pulled through it and tagged with their usual names.
    Pull(ImagesPullArgs),

    /// Write every image the stack needs into one file, for machines without registry access
    ///
    /// The images must be in the Docker engine (`onyx images pull`). Carry the file over and run
    /// `onyx images load FILE` there.
    Save(ImagesSaveArgs),

    /// Load a bundle written by `onyx images save` into the Docker engine
    ///
    /// The whole bundle is checked (format, manifest, sha256 of every image) before anything is
    /// loaded: a truncated or damaged file loads nothing.
    Load(ImagesLoadArgs),
}

#[derive(Debug, Args)]
pub struct ImagesPullArgs {
    /// Pull Docker Hub images through this registry mirror (HOST[:PORT][/PATH])
    ///
    /// `docker.io/library/nginx:1.23.4-alpine` is pulled as `HOST/library/nginx:1.23.4-alpine`,
    /// then tagged `nginx:1.23.4-alpine` so the stack finds it.
    #[arg(long, env = env_vars::ONYX_REGISTRY_MIRROR, value_name = "HOST")]
    pub registry_mirror: Option<String>,

    /// Pull these instead of the stack's images (for tests and benchmarks)
    #[arg(long = "image", value_name = "REF", hide = true)]
    pub images: Vec<String>,

    /// Output format of the per-image results
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct ImagesSaveArgs {
    /// The bundle file to write
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Save these instead of the stack's images (for tests and benchmarks)
    #[arg(long = "image", value_name = "REF", hide = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagesLoadArgs {
    /// The bundle file to load
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Output format of the per-image results
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct ImagesListArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create the local cluster, or start and reuse the one that exists
    ///
    /// Steps: network, node container, systemd, kubeadm init, CNI, storage, node Ready, kubeconfig.
    /// A failed create removes what it made (unless --retain) and names the step that failed.
    Create(ClusterCreateArgs),

    /// Delete the local cluster and its kubeconfig entries; the data volume stays unless --purge
    Delete(ClusterDeleteArgs),

    /// List kind-compatible clusters in the Docker engine (onyx's and kind's own)
    List(ClusterListArgs),

    /// Show the local cluster's node, ports, data directory and readiness
    Status(ClusterStatusArgs),

    /// Put the stack's images into the node's containerd (present ones are skipped)
    ///
    /// The images must be in the Docker engine (`onyx images pull` or `onyx images load`).
    Load(ClusterLoadArgs),
}

/// Which cluster, and where its kubeconfig and data live; shared by the cluster commands.
#[derive(Debug, Args, Clone)]
pub struct ClusterTarget {
    /// The cluster's name (tests run several side by side; users keep the default)
    #[arg(long, default_value = crate::cluster::CLUSTER_NAME, hide = true)]
    pub name: String,

    /// Kubeconfig file to merge into / clean (default: by kubectl's rules, $KUBECONFIG or
    /// ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Directory of data made by older onyx versions (used while its `data/` holds files)
    ///
    /// New clusters keep the stack's data in the Docker volume `onyx-data`. Default: the
    /// platform data directory + `onyx` (on Linux `~/.local/share/onyx`).
    #[arg(long, env = env_vars::ONYX_DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClusterCreateArgs {
    #[command(flatten)]
    pub target: ClusterTarget,

    /// Host port for the UI on 127.0.0.1, mapped to the gateway's node port (default 3000)
    #[arg(long, env = env_vars::ONYX_PORT, value_name = "PORT")]
    pub port: Option<u16>,

    /// Keep the node after a failed create, to look inside it
    #[arg(long)]
    pub retain: bool,

    /// Seconds to wait for the node to be Ready
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub wait: u64,

    /// Node image to use instead of the pinned kindest/node (for tests)
    #[arg(long, value_name = "REF", hide = true)]
    pub node_image: Option<String>,

    /// Pull the node image through this registry mirror when the engine lacks it (HOST[:PORT])
    #[arg(long, env = env_vars::ONYX_REGISTRY_MIRROR, value_name = "HOST")]
    pub registry_mirror: Option<String>,

    /// Print what would be made and make nothing
    ///
    /// Reads the engine's facts (cgroup version, rootless, userns-remap, storage, MTU, podman)
    /// and prints the network, the volumes, the node container's Docker API body and the
    /// kubeadm config that `cluster create` would use on this host.
    #[arg(long)]
    pub dry_run: bool,

    /// Output format of the result
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct ClusterDeleteArgs {
    #[command(flatten)]
    pub target: ClusterTarget,

    /// Also remove the data volume (or directory): every database, index and file of the stack
    #[arg(long)]
    pub purge: bool,

    /// Output format of the result
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct ClusterListArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct ClusterStatusArgs {
    #[command(flatten)]
    pub target: ClusterTarget,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct ClusterLoadArgs {
    #[command(flatten)]
    pub target: ClusterTarget,

    /// Load these instead of the stack's images (for tests and benchmarks)
    #[arg(long = "image", value_name = "REF", hide = true)]
    pub images: Vec<String>,

    /// Output format of the per-image results
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Host port the UI is served on at 127.0.0.1 (as given to `onyx up`)
    #[arg(long, env = env_vars::ONYX_PORT, value_name = "PORT")]
    pub port: Option<u16>,

    /// Only print the URL; don't start a browser
    #[arg(long)]
    pub print: bool,
}

/// How `onyx up` gives Onyx an LLM provider, so chat answers right away (optional; at most one
/// of --llm-url, --llm, --openai-api-key-env). Flattened into the arguments of `up`.
#[derive(Debug, Args, Clone, Default, PartialEq, Eq)]
#[command(next_help_heading = "LLM provider")]
pub struct LlmArgs {
    /// Use an OpenAI-compatible API that the cluster reaches (vLLM, LiteLLM, ...)
    ///
    /// Its base URL as seen from inside the cluster, e.g.
    /// `http://vllm-service.ai-services:8001/v1`. Needs --llm-model.
    #[arg(long, value_name = "URL", group = "llm_provider")]
    pub llm_url: Option<String>,

    /// Use an LLM server running on this machine
    ///
    /// `ollama`: Ollama on its default port 11434, reached from the cluster through the host's
    /// address (on Linux, Ollama must listen beyond 127.0.0.1: `OLLAMA_HOST=0.0.0.0`). Needs
    /// --llm-model.
    #[arg(long, value_enum, value_name = "SERVER", group = "llm_provider")]
    pub llm: Option<LocalLlm>,

    /// Use OpenAI, with the API key read from this environment variable (never printed)
    #[arg(long, value_name = "VAR", group = "llm_provider")]
    pub openai_api_key_env: Option<String>,

    /// The model to use (default with --openai-api-key-env: gpt-4o)
    #[arg(long, value_name = "NAME", requires = "llm_provider")]
    pub llm_model: Option<String>,
}

/// LLM servers on this machine that `--llm` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocalLlm {
    Ollama,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Host port the UI is expected on
    #[arg(long, env = env_vars::ONYX_PORT, value_name = "PORT")]
    pub port: Option<u16>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Text)]
    pub output: DataFormat,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// The file to write
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// A file written by `onyx backup`
    pub file: PathBuf,

    /// Don't ask before replacing the database's contents
    #[arg(long)]
    pub yes: bool,
}

/// Output of commands whose result is data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    Text,
    Json,
}

/// Output of commands that print Kubernetes objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManifestFormat {
    Yaml,
    Json,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `LlmArgs` as `up` will flatten it.
    #[derive(Debug, Parser)]
    struct Harness {
        #[command(flatten)]
        llm: LlmArgs,
    }

    fn parse(args: &[&str]) -> Result<LlmArgs, clap::Error> {
        Harness::try_parse_from(std::iter::once("up").chain(args.iter().copied())).map(|h| h.llm)
    }

    #[test]
    fn llm_flags_parse() {
        assert_eq!(parse(&[]).unwrap(), LlmArgs::default());
        let a = parse(&[
            "--llm-url",
            "http://vllm-service.ai-services:8001/v1",
            "--llm-model",
            "m",
        ])
        .unwrap();
        assert_eq!(
            a.llm_url.as_deref(),
            Some("http://vllm-service.ai-services:8001/v1")
        );
        assert_eq!(a.llm_model.as_deref(), Some("m"));
        assert_eq!(
            parse(&["--llm", "ollama"]).unwrap().llm,
            Some(LocalLlm::Ollama)
        );
        let a = parse(&["--openai-api-key-env", "OPENAI_API_KEY"]).unwrap();
        assert_eq!(a.openai_api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    }

    #[test]
    fn llm_flags_are_mutually_exclusive() {
        for args in [
            &["--llm-url", "http://x/v1", "--llm", "ollama"][..],
            &["--llm", "ollama", "--openai-api-key-env", "K"][..],
            &["--llm-url", "http://x/v1", "--openai-api-key-env", "K"][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
        }
        assert_eq!(
            parse(&["--llm", "vllm"]).unwrap_err().kind(),
            clap::error::ErrorKind::InvalidValue
        );
        // A model alone chooses nothing.
        assert_eq!(
            parse(&["--llm-model", "m"]).unwrap_err().kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
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
}
