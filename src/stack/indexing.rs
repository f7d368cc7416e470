//! Indexing: Onyx's background workers and, where memory allows, a model server of their own.
//!
//! Without Celery workers nothing is indexed: connectors never run, large chat uploads stay
//! "Processing…", search finds nothing (Onyx v2.3.0 `backend/onyx/db/projects.py`,
//! `server/documents/connector.py`). Onyx v2.3.0's docker-compose runs one `background` container
//! (supervisord with the primary worker, one consolidated worker and beat) and an
//! `indexing_model_server` (`INDEXING_ONLY=True`); `INDEXING_MODEL_SERVER_HOST` defaults to
//! `MODEL_SERVER_HOST` (`backend/shared_configs/configs.py`), so the inference model server can
//! embed for indexing too.
//!
//! Per profile, when indexing is on ([`modes_when_on`]):
//! - `small` and `medium`: the inference model server serves indexing as well ([`Mode::Shared`]).
//!   On their machines (8 and 16 GiB) a second model server (compose: 5g limit; helm: 3Gi request)
//!   would load torch and the embedding model a second time; the inference server's limit holds
//!   both loads, and indexing is slower while chat queries run.
//! - `large` and `cluster`: a dedicated indexing model server ([`Mode::Dedicated`], helm's
//!   `indexCapability`), falling back to [`Mode::Shared`] on a machine that holds only that.
//!
//! The choice: `--indexing on|off` when given (kept in the cluster, as Secrets are, so an `off`
//! stays off on re-runs), else the kept one, else the profile's default — `small` does not index
//! by default: its floor is already 7.5 GiB and the workers' measured ~1.3 GiB at rest (primary,
//! consolidated worker and beat; /work/shared/ONYX-STACK.md) does not fit an 8 GiB machine.

use serde::Serialize;

use super::catalog::{Layer, Service, Workload};
use super::profile::{self, Capacity, Profile, ProfileName, Resources, ServiceSize};

/// The services that exist only when indexing is on.
pub const SERVICES: &[Service] = &[
    Service {
        name: "indexing-model-server",
        component: "model-server",
        layer: Layer::Model,
        workload: Workload::Deployment,
        port: 9000,
        address: "indexing-model-server:9000",
        depends_on: &[],
        stateless: true,
    },
    Service {
        name: "background",
        component: "workers",
        layer: Layer::Workers,
        workload: Workload::Deployment,
        port: 0,
        address: "",
        // compose `background.depends_on`; and the API, which migrates the database and deploys
        // Vespa's application package before the workers use them.
        depends_on: &[
            "postgresql",
            "redis",
            "minio",
            "vespa",
            "inference-model-server",
            "indexing-model-server",
            "api-server",
        ],
        // One beat: Celery beat must not run twice (it would schedule every task twice).
        stateless: false,
    },
];

/// Whether, and how, the stack indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// No workers: chat works, nothing is indexed.
    Off,
    /// The workers, embedding through the inference model server.
    Shared,
    /// The workers and an indexing model server of their own.
    Dedicated,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Shared => "shared",
            Mode::Dedicated => "dedicated",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "off" => Some(Mode::Off),
            "shared" => Some(Mode::Shared),
            "dedicated" => Some(Mode::Dedicated),
            _ => None,
        }
    }

    /// Does the stack run this service in this mode?
    pub fn runs(self, service: &str) -> bool {
        match service {
            "background" => self != Mode::Off,
            "indexing-model-server" => self == Mode::Dedicated,
            _ => true,
        }
    }

    /// The host the workers embed through (INDEXING_MODEL_SERVER_HOST).
    pub fn indexing_model_server_host(self) -> Option<&'static str> {
        match self {
            Mode::Off => None,
            Mode::Shared => Some("inference-model-server"),
            Mode::Dedicated => Some("indexing-model-server"),
        }
    }

    /// One line for `plan` and `up`.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Off => {
                "off: no background workers (chat works; connectors, uploads beyond the chat's \
                 context and search are not indexed)"
            }
            Mode::Shared => {
                "on: background workers; the inference model server also embeds for indexing"
            }
            Mode::Dedicated => "on: background workers and their own indexing model server",
        }
    }
}

/// `--indexing on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn as_str(self) -> &'static str {
        match self {
            Switch::On => "on",
            Switch::Off => "off",
        }
    }
    pub fn parse(s: &str) -> Option<Switch> {
        match s {
            "on" => Some(Switch::On),
            "off" => Some(Switch::Off),
            _ => None,
        }
    }
}

/// What a stack is rendered with: the mode, and the user's own choice to keep (`None`: the
/// profile's default applies on every run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Indexing {
    pub mode: Mode,
    pub requested: Option<Switch>,
}

impl Indexing {
    /// The profile's default, with no machine to check against.
    pub fn default_for(profile: ProfileName) -> Indexing {
        Indexing {
            mode: default_modes(profile).first().copied().unwrap_or(Mode::Off),
            requested: None,
        }
    }

    /// Indexing on with the profile's preferred mode, as if asked for.
    pub fn on(profile: ProfileName) -> Indexing {
        Indexing {
            mode: modes_when_on(profile)[0],
            requested: Some(Switch::On),
        }
    }

    pub fn off() -> Indexing {
        Indexing {
            mode: Mode::Off,
            requested: Some(Switch::Off),
        }
    }
}

/// The modes a profile may index in when on, preferred first.
pub fn modes_when_on(profile: ProfileName) -> &'static [Mode] {
    match profile {
        ProfileName::Small | ProfileName::Medium => &[Mode::Shared],
        ProfileName::Large | ProfileName::Cluster => &[Mode::Dedicated, Mode::Shared],
    }
}

/// The modes a profile tries by default, preferred first (none: off).
pub fn default_modes(profile: ProfileName) -> &'static [Mode] {
    match profile {
        ProfileName::Small => &[],
        p => modes_when_on(p),
    }
}

// Sizes. Sources, Onyx v2.3.0:
// - `deployment/docker_compose/docker-compose.resources.yml`: background 6 CPUs / 10g ("very
//   generous, primarily to prevent OOM crashing the host machine"), indexing_model_server 5g.
// - `deployment/helm/charts/onyx/values.yaml`: celery_worker_primary 500m/2Gi, 1000m/4Gi;
//   celery_beat 512Mi/1Gi; docprocessing 2Gi/12Gi; indexCapability 4000m/3Gi, 6000m/6Gi.
// - Measured here from v2.3.0's source (/work/shared/ONYX-STACK.md): primary, the consolidated
//   worker and beat idle at 352 + 272 + 191 MiB RSS (~0.8 GiB) in lightweight mode; the whole
//   container with small `--indexing on`'s env sits at ~1.3 GiB at rest, the Slack bot
//   included (it stays RUNNING, ~310 MiB, with no bot configured: `onyxbot/slack/listener.py`
//   loops).
// Requests hold the measured resting set with room (1.5 GiB), or helm's primary request (2 GiB)
// in large; CPU requests stay below helm's so each profile's total fits the CPUs it asks for.
const fn res(cpu_request_m: u32, cpu_limit_m: u32, mem_req: u32, mem_lim: u32) -> Resources {
    Resources {
        cpu_request_m,
        cpu_limit_m,
        memory_request_mib: mem_req,
        memory_limit_mib: mem_lim,
    }
}

const NO_ENV: &[(&str, &str)] = &[];

const SMALL_SIZES: &[ServiceSize] = &[ServiceSize {
    service: "background",
    resources: res(100, 1000, 1536, 3072),
    env: NO_ENV,
}];

const MEDIUM_SIZES: &[ServiceSize] = &[ServiceSize {
    service: "background",
    resources: res(250, 2000, 1536, 4096),
    env: NO_ENV,
}];

const LARGE_SIZES: &[ServiceSize] = &[
    // helm primary's 2Gi request; compose's 10g and 6 CPUs.
    ServiceSize {
        service: "background",
        resources: res(500, 6000, 2048, 10240),
        env: NO_ENV,
    },
    // helm indexCapability: 3Gi / 6Gi, 6000m limit.
    ServiceSize {
        service: "indexing-model-server",
        resources: res(1000, 6000, 3072, 6144),
        env: NO_ENV,
    },
];

/// The size of an indexing service in a profile.
pub fn size(profile: ProfileName, service: &str) -> Option<&'static ServiceSize> {
    let sizes = match profile {
        ProfileName::Small => SMALL_SIZES,
        ProfileName::Medium => MEDIUM_SIZES,
        ProfileName::Large | ProfileName::Cluster => LARGE_SIZES,
    };
    sizes.iter().find(|s| s.service == service)
}

/// The indexing services `mode` runs in `profile`, with their sizes.
pub fn extras(profile: ProfileName, mode: Mode) -> Vec<&'static ServiceSize> {
    SERVICES
        .iter()
        .filter(|s| mode.runs(s.name))
        .filter_map(|s| size(profile, s.name))
        .collect()
}

/// Does `p` indexing in `mode` fit `c`? [`profile::fits_with`] with the indexing services: memory
/// and CPU requests, the node's own pods counted.
pub fn fits(p: &Profile, mode: Mode, c: Capacity) -> bool {
    profile::fits_with(p, &extras(p.name, mode), c)
}

/// Memory the indexing services of `mode` request in `profile`, in MiB (one replica each).
pub fn extra_request_mib(profile: ProfileName, mode: Mode) -> u32 {
    SERVICES
        .iter()
        .filter(|s| mode.runs(s.name))
        .filter_map(|s| size(profile, s.name))
        .map(|s| s.resources.memory_request_mib)
        .sum()
}

/// CPU the indexing services of `mode` request in `profile`, in millicores.
pub fn extra_cpu_request_m(profile: ProfileName, mode: Mode) -> u32 {
    SERVICES
        .iter()
        .filter(|s| mode.runs(s.name))
        .filter_map(|s| size(profile, s.name))
        .map(|s| s.resources.cpu_request_m)
        .sum()
}

/// The memory the machine needs for `profile` indexing in `mode`: the stack's requests, the
/// indexing services' and the reserve for Kubernetes, rounded up to half a GiB (as
/// [`profile::floor_bytes`]).
pub fn floor_bytes(p: &Profile, mode: Mode) -> u64 {
    let mib = profile::totals(p).memory_request_mib as u64
        + extra_request_mib(p.name, mode) as u64
        + profile::CLUSTER_RESERVE_MIB as u64;
    mib.div_ceil(512) * 512 * 1024 * 1024
}

/// The outcome of [`resolve`]: the indexing to render, and what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub indexing: Indexing,
    /// Set when the default could not be had on this machine (said as a warning).
    pub warning: Option<String>,
}

/// Why indexing, asked for, can't run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub profile: ProfileName,
    pub have: String,
    pub need: String,
}

impl From<Refusal> for crate::Error {
    fn from(r: Refusal) -> Self {
        crate::Error::TooSmall {
            machine: "this machine".into(),
            profile: r.profile.to_string(),
            have: r.have,
            need: r.need,
            hint: "use --indexing off (chat without indexing), a machine with more memory, or \
                   --force to try anyway"
                .into(),
        }
    }
}

/// Decide the indexing: `asked` (the flag) over `kept` (the cluster's record) over the profile's
/// default, each checked against the machine when its capacity is known (`None`: the cluster
/// profile, or a profile forced regardless of size).
pub fn resolve(
    p: &Profile,
    capacity: Option<Capacity>,
    asked: Option<Switch>,
    kept: Option<Switch>,
    force: bool,
) -> Result<Resolved, Refusal> {
    let fits = |m: Mode| capacity.is_none_or(|c| fits(p, m, c));
    let requested = asked.or(kept);
    match requested {
        Some(Switch::Off) => Ok(Resolved {
            indexing: Indexing::off(),
            warning: None,
        }),
        Some(Switch::On) => {
            let modes = modes_when_on(p.name);
            match modes.iter().copied().find(|m| fits(*m)) {
                Some(mode) => Ok(Resolved {
                    indexing: Indexing {
                        mode,
                        requested: Some(Switch::On),
                    },
                    warning: None,
                }),
                None if force || asked.is_none() => {
                    let mode = *modes.last().expect("a mode");
                    Ok(Resolved {
                        indexing: Indexing {
                            mode,
                            requested: Some(Switch::On),
                        },
                        warning: Some(too_small(p, mode, capacity)),
                    })
                }
                None => {
                    let mode = *modes.last().expect("a mode");
                    let c = capacity.expect("checked against a capacity");
                    let (have, need) =
                        profile::shortfall_with(p, &extras(p.name, mode), c).unwrap_or_default();
                    Err(Refusal {
                        profile: p.name,
                        have,
                        need: format!("{need} with its background workers (--indexing on)"),
                    })
                }
            }
        }
        None => {
            let modes = default_modes(p.name);
            if modes.is_empty() {
                return Ok(Resolved {
                    indexing: Indexing {
                        mode: Mode::Off,
                        requested: None,
                    },
                    warning: None,
                });
            }
            match modes.iter().copied().find(|m| fits(*m)) {
                Some(mode) => Ok(Resolved {
                    indexing: Indexing {
                        mode,
                        requested: None,
                    },
                    warning: None,
                }),
                None => {
                    let mode = *modes.last().expect("a mode");
                    Ok(Resolved {
                        indexing: Indexing {
                            mode: Mode::Off,
                            requested: None,
                        },
                        warning: Some(format!(
                            "indexing is off: {}; connectors, uploads and search won't be \
                             indexed (--indexing on --force tries anyway)",
                            too_small(p, mode, capacity)
                        )),
                    })
                }
            }
        }
    }
}

fn too_small(p: &Profile, mode: Mode, capacity: Option<Capacity>) -> String {
    match capacity.and_then(|c| profile::shortfall_with(p, &extras(p.name, mode), c)) {
        // Memory alone: the short form the floor gives.
        Some((have, _)) if have.ends_with(" of memory") && !have.contains(" and ") => format!(
            "the {} profile with its background workers needs {}, the machine has {}",
            p.name,
            profile::gib(floor_bytes(p, mode)),
            have.trim_end_matches(" of memory")
        ),
        Some((have, need)) => format!(
            "the {} profile with its background workers needs {need}, the machine has {have}",
            p.name
        ),
        None => format!(
            "the {} profile with its background workers needs {}, the machine has an unknown \
             amount",
            p.name,
            profile::gib(floor_bytes(p, mode))
        ),
    }
}

/// What `small` can do, said plainly in `plan` when it doesn't index.
pub fn small_note() -> String {
    format!(
        "small does not index by default: with the background workers it needs {} (an 8 GiB \
         machine has about 7.6); `--indexing on` runs them on a machine that has it",
        profile::gib(floor_bytes(&profile::SMALL, Mode::Shared))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    fn cap(gib: f64) -> Option<Capacity> {
        Some(Capacity::machine((gib * GIB as f64) as u64, 8))
    }

    #[test]
    fn defaults_per_profile() {
        use ProfileName::*;
        assert_eq!(Indexing::default_for(Small).mode, Mode::Off);
        assert_eq!(Indexing::default_for(Medium).mode, Mode::Shared);
        assert_eq!(Indexing::default_for(Large).mode, Mode::Dedicated);
        assert_eq!(Indexing::default_for(Cluster).mode, Mode::Dedicated);
    }

    #[test]
    fn floors_add_the_workers_to_the_profile() {
        // small: 6.2 GiB of requests + 1.5 GiB workers + 1 GiB reserve.
        assert_eq!(
            floor_bytes(&profile::SMALL, Mode::Off),
            profile::SMALL.min_memory_bytes
        );
        assert_eq!(floor_bytes(&profile::SMALL, Mode::Shared), 9 * GIB);
        assert_eq!(floor_bytes(&profile::MEDIUM, Mode::Shared), 23 * GIB / 2);
        assert_eq!(floor_bytes(&profile::LARGE, Mode::Shared), 37 * GIB / 2);
        assert_eq!(floor_bytes(&profile::LARGE, Mode::Dedicated), 43 * GIB / 2);
        // An "8 GiB" laptop (7.6 GiB reported) can't hold small's workers.
        assert!(floor_bytes(&profile::SMALL, Mode::Shared) > (7.6 * GIB as f64) as u64);
        // Every profile's CPU requests, workers included, stay below the CPUs it asks for.
        for p in [&profile::SMALL, &profile::MEDIUM, &profile::LARGE] {
            let m = *modes_when_on(p.name).first().unwrap();
            let cpu = profile::totals(p).cpu_request_m + extra_cpu_request_m(p.name, m);
            assert!(cpu < p.min_cpus * 1000, "{}: {cpu}m", p.name);
        }
    }

    #[test]
    fn resolution_flag_over_kept_over_default() {
        let m = &profile::MEDIUM;
        let r = resolve(m, cap(15.5), None, None, false).unwrap();
        assert_eq!(r.indexing.mode, Mode::Shared);
        assert_eq!(r.indexing.requested, None);
        // Kept off stays off; the flag overrides it.
        let r = resolve(m, cap(15.5), None, Some(Switch::Off), false).unwrap();
        assert_eq!(r.indexing, Indexing::off());
        let r = resolve(m, cap(15.5), Some(Switch::On), Some(Switch::Off), false).unwrap();
        assert_eq!(r.indexing.mode, Mode::Shared);
        assert_eq!(r.indexing.requested, Some(Switch::On));
        // Medium on a 10.5 GiB machine: the default leaves the workers out, and says so.
        let r = resolve(m, cap(10.5), None, None, false).unwrap();
        assert_eq!(r.indexing.mode, Mode::Off);
        assert!(r.warning.unwrap().contains("needs 11.5 GiB"));
        // Asked for there: refused with the numbers, unless forced.
        let e = resolve(m, cap(10.5), Some(Switch::On), None, false).unwrap_err();
        assert_eq!(e.have, "10.5 GiB of memory");
        assert!(e.need.contains("11.5 GiB"), "{}", e.need);
        let r = resolve(m, cap(10.5), Some(Switch::On), None, true).unwrap();
        assert_eq!(r.indexing.mode, Mode::Shared);
        assert!(r.warning.is_some());
    }

    #[test]
    fn large_falls_back_to_the_shared_model_server_where_memory_allows_only_that() {
        let l = &profile::LARGE;
        assert_eq!(
            resolve(l, cap(24.0), None, None, false)
                .unwrap()
                .indexing
                .mode,
            Mode::Dedicated
        );
        assert_eq!(
            resolve(l, cap(19.0), None, None, false)
                .unwrap()
                .indexing
                .mode,
            Mode::Shared
        );
        assert_eq!(
            resolve(l, cap(17.0), None, None, false)
                .unwrap()
                .indexing
                .mode,
            Mode::Off
        );
        // The cluster profile is not sized to this machine.
        assert_eq!(
            resolve(&profile::CLUSTER, None, None, None, false)
                .unwrap()
                .indexing
                .mode,
            Mode::Dedicated
        );
    }

    #[test]
    fn small_indexes_only_when_asked_and_the_machine_holds_it() {
        let s = &profile::SMALL;
        assert_eq!(
            resolve(s, cap(15.0), None, None, false)
                .unwrap()
                .indexing
                .mode,
            Mode::Off
        );
        assert_eq!(
            resolve(s, cap(9.0), Some(Switch::On), None, false)
                .unwrap()
                .indexing
                .mode,
            Mode::Shared
        );
        assert!(resolve(s, cap(7.6), Some(Switch::On), None, false).is_err());
        assert!(small_note().contains("9.0 GiB"), "{}", small_note());
    }

    #[test]
    fn large_on_its_six_cpus_counts_the_nodes_own_requests() {
        // 5500m of stack requests with the dedicated model server + 950m of the node's own pods
        // is more than 6 CPUs: the scheduler would leave the workers Pending. So on 6 CPUs large
        // indexes through the shared model server (4500m + 950m), and dedicated needs 7.
        let l = &profile::LARGE;
        assert_eq!(profile::NODE_PODS_CPU_M, 950);
        let ded = profile::ask(l, &extras(l.name, Mode::Dedicated));
        assert_eq!(ded.cpu_m, 5500);
        assert!(ded.cpu_m + profile::NODE_PODS_CPU_M as u64 > 6000);
        let machine = |cpus| Some(Capacity::machine(64 * GIB, cpus));
        let mode = |cpus| resolve(l, machine(cpus), None, None, false).unwrap();
        assert_eq!(mode(6).indexing.mode, Mode::Shared);
        assert_eq!(mode(7).indexing.mode, Mode::Dedicated);
        // Whatever is chosen fits: its requests and the node's within the CPUs.
        for cpus in [6, 7, 8] {
            let m = mode(cpus).indexing.mode;
            let a = profile::ask(l, &extras(l.name, m));
            assert!(a.cpu_m + profile::NODE_PODS_CPU_M as u64 <= cpus as u64 * 1000);
        }
        // The dedicated server asked for by the kept choice on 6 CPUs is not refused but said.
        let on = resolve(l, machine(6), Some(Switch::On), None, false).unwrap();
        assert_eq!(on.indexing.mode, Mode::Shared);
        // Small with its workers on a 2-CPU machine: 825m + 950m fits.
        let s = &profile::SMALL;
        let r = resolve(
            s,
            Some(Capacity::machine(9 * GIB, 2)),
            Some(Switch::On),
            None,
            false,
        );
        assert_eq!(r.unwrap().indexing.mode, Mode::Shared);
    }

    #[test]
    fn a_given_cluster_is_sized_by_its_room_and_its_roomiest_node() {
        let l = &profile::LARGE;
        let room = |cpu_m, mem_gib, node_cpu_m, node_gib| {
            Some(Capacity {
                memory_bytes: mem_gib * GIB,
                cpus: (cpu_m / 1000) as u32,
                room: Some(profile::Room {
                    cpu_m,
                    memory_bytes: mem_gib * GIB,
                    node_cpu_m,
                    node_memory_bytes: node_gib * GIB,
                }),
            })
        };
        // The node's own pods are already taken off a given cluster's room: 5500m is enough.
        let r = resolve(l, room(5500, 22, 5500, 22), None, None, false).unwrap();
        assert_eq!(r.indexing.mode, Mode::Dedicated);
        // Enough in sum, but no node holds Vespa's 8000 MiB request: refused, saying so.
        let r = resolve(l, room(9000, 40, 4000, 7), Some(Switch::On), None, false).unwrap_err();
        assert!(r.have.contains("free on one node"), "{}", r.have);
    }
}
