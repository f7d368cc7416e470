//! Resource profiles: how much CPU and memory each service gets, and the in-app knobs that go with
//! it (Vespa's JVM heaps, the API's connection pool), for a machine of a given size.
//!
//! Each number is derived from upstream's own figures and the images' own start rules (cited at
//! the size tables below). A profile's floor is what its services request plus room for
//! Kubernetes itself ([`floor_bytes`]): `small` needs 7.5 GiB (so an 8 GiB Linux laptop, not an
//! 8 GiB Mac whose Docker VM gets less), `medium` 10 GiB (the 10 GB minimum Onyx's docs give; not in its repository, not checked here), `large`
//! 16.5 GiB (helm's requests). `cluster` is `large` with the stateless tiers replicated, for real
//! multi-node clusters; it is never chosen automatically.

use serde::{Deserialize, Serialize};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileName {
    /// 8 GiB laptop: chat only, trimmed Vespa
    Small,
    /// 16 GiB laptop
    Medium,
    /// Workstation: needs 16.5+ GiB (21.5+ GiB to index) and 6+ CPUs
    Large,
    /// Multi-node cluster: stateless tiers replicated, with disruption budgets
    Cluster,
}

impl ProfileName {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::Small => "small",
            ProfileName::Medium => "medium",
            ProfileName::Large => "large",
            ProfileName::Cluster => "cluster",
        }
    }
}

impl std::fmt::Display for ProfileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Requests and limits of one container: CPU in millicores, memory in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub cpu_request_m: u32,
    pub cpu_limit_m: u32,
    pub memory_request_mib: u32,
    pub memory_limit_mib: u32,
}

const fn res(cpu_request_m: u32, cpu_limit_m: u32, mem_req: u32, mem_lim: u32) -> Resources {
    Resources {
        cpu_request_m,
        cpu_limit_m,
        memory_request_mib: mem_req,
        memory_limit_mib: mem_lim,
    }
}

/// The size of every init container (they only wait for other services).
pub const INIT_CONTAINER: Resources = res(10, 200, 32, 128);

/// What one service gets in a profile.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSize {
    pub service: &'static str,
    pub resources: Resources,
    /// Environment set on the service's main container (JVM heaps, pool sizes, ...).
    pub env: &'static [(&'static str, &'static str)],
}

/// A profile: per-service sizes, replicas and what the machine needs to run it.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub name: ProfileName,
    /// Memory the machine (or Docker's VM) must have: the stack's requests plus room for
    /// Kubernetes itself and the OS.
    pub min_memory_bytes: u64,
    pub min_cpus: u32,
    /// Replicas of the stateless tiers (nginx, web, API, model server).
    pub stateless_replicas: i32,
    pub sizes: &'static [ServiceSize],
}

impl Profile {
    pub fn size(&self, service: &str) -> Option<&ServiceSize> {
        self.sizes.iter().find(|s| s.service == service)
    }

    /// Profiles `choose` may pick, smallest first.
    pub fn host_profiles() -> [&'static Profile; 3] {
        [&SMALL, &MEDIUM, &LARGE]
    }
}

/// Look a profile up.
pub fn profile(name: ProfileName) -> &'static Profile {
    match name {
        ProfileName::Small => &SMALL,
        ProfileName::Medium => &MEDIUM,
        ProfileName::Large => &LARGE,
        ProfileName::Cluster => &CLUSTER,
    }
}

// Where the numbers come from (quoted in README's profile table; re-derive them together):
//
// - Onyx v2.3.0 `deployment/docker_compose/docker-compose.resources.yml` limits: api_server 2 CPUs /
//   4g, inference_model_server 5g, relational_db 2 CPUs / 4g, nginx 1 CPU / 1g, (minio, commented
//   out) 1 CPU / 1g.
// - Onyx v2.3.0 `deployment/helm/charts/onyx/values.yaml`: vespa 4000m/8000Mi requests, 8000m/
//   32000Mi limits; inferenceCapability 2000m/3Gi, 4000m/10Gi; api 500m/1Gi, 1000m/3Gi; webserver
//   200m/512Mi, 1000m/1Gi; redis 100m/128Mi, 500m/512Mi.
// - Vespa v8.526.15 `client/go/internal/admin/vespa-wrapper/services/container.go`: exits at start
//   when min(cgroup limit, MemAvailable) < 3 GiB (unless VESPA_IGNORE_NOT_ENOUGH_MEMORY, which the
//   manifest sets so a busy node's MemAvailable can't stop a restart); the limit stays ≥ 4 GiB, the
//   figure its own message names. Its JVMs: the query container's heap is 1536 MiB
//   (`container-search/.../search.config.qr-start.def`, and `config-model/.../
//   ApplicationContainerCluster.java` for a self-hosted app with no `<nodes><resources>`, which is
//   what Onyx's `services.xml.jinja` deploys) plus direct memory 75 + 1536/8 MiB
//   (`client/go/internal/admin/jvm/application_container.go`; VESPA_CONTAINER_JVMARGS comes before
//   that -Xmx, so it cannot lower it); config server 128–2048 MiB by default
//   (`vespa-wrapper/configserver/start.go`), config proxy 32–128 MiB (`jvm/configproxy_jvm.go`),
//   cluster controller 128 MiB (`ClusterControllerContainerCluster.java`), metrics proxy 256 MiB
//   (`MetricsProxyContainer.java`), plus proton and the C++ daemons. In small (config server and
//   proxy trimmed) that is about 2.3 GiB of heaps before any index: request 3 GiB, limit 4 GiB.
// - The API server: pool + overflow ≥ 20 (`backend/onyx/db/engine/connection_warmup.py` holds 20
//   connections at once; with 10 + 5 startup exits, reproduced by running v2.3.0's API from source).
//   Defaults 40 + 10 (`backend/onyx/configs/app_configs.py`).
// - Requests are what each service uses in steady state (the floor the machine must hold); limits
//   are upstream's ceilings. Where upstream gives no figure (PostgreSQL, MinIO and nginx requests,
//   the small profile's CPU requests) the number is ours and README says so.
const SMALL_SIZES: &[ServiceSize] = &[
    ServiceSize {
        service: "postgresql",
        // Limit: max_connections' idle backends with room (src/stack/connections.rs).
        resources: res(50, 1000, 256, 2048),
        env: &[],
    },
    ServiceSize {
        service: "redis",
        resources: res(25, 250, 64, 256),
        env: &[],
    },
    ServiceSize {
        service: "minio",
        resources: res(25, 500, 128, 512),
        env: &[],
    },
    ServiceSize {
        service: "vespa",
        resources: res(250, 2000, 3072, 4096),
        env: &[
            ("VESPA_CONFIGSERVER_JVMARGS", "-Xms32M -Xmx128M"),
            ("VESPA_CONFIGPROXY_JVMARGS", "-Xms32M -Xmx32M"),
        ],
    },
    // helm's request (3Gi) as the limit: torch and the embedding model load at the first query.
    ServiceSize {
        service: "inference-model-server",
        resources: res(100, 2000, 1536, 3072),
        env: &[],
    },
    // helm: 1Gi request, 3Gi limit. 15 + 5 = the 20 connections of the warm-up.
    ServiceSize {
        service: "api-server",
        resources: res(200, 1000, 1024, 3072),
        env: &[
            ("POSTGRES_API_SERVER_POOL_SIZE", "15"),
            ("POSTGRES_API_SERVER_POOL_OVERFLOW", "5"),
        ],
    },
    ServiceSize {
        service: "web-server",
        resources: res(50, 1000, 256, 1024),
        env: &[],
    },
    ServiceSize {
        service: "nginx",
        resources: res(25, 250, 32, 128),
        env: &[],
    },
];

const MEDIUM_SIZES: &[ServiceSize] = &[
    // compose: 2 CPUs / 4g.
    ServiceSize {
        service: "postgresql",
        resources: res(250, 2000, 1024, 4096),
        env: &[],
    },
    // helm: 128Mi / 512Mi.
    ServiceSize {
        service: "redis",
        resources: res(50, 500, 128, 512),
        env: &[],
    },
    // compose (commented out): 1 CPU / 1g.
    ServiceSize {
        service: "minio",
        resources: res(50, 1000, 256, 1024),
        env: &[],
    },
    ServiceSize {
        service: "vespa",
        resources: res(500, 4000, 4096, 8192),
        env: &[
            ("VESPA_CONFIGSERVER_JVMARGS", "-Xms128M -Xmx512M"),
            ("VESPA_CONFIGPROXY_JVMARGS", "-Xms32M -Xmx64M"),
        ],
    },
    // compose: 5g; helm: 4000m CPU limit.
    ServiceSize {
        service: "inference-model-server",
        resources: res(500, 4000, 2048, 5120),
        env: &[],
    },
    // helm: 1Gi request; compose: 2 CPUs / 4g.
    ServiceSize {
        service: "api-server",
        resources: res(500, 2000, 1024, 4096),
        env: &[
            ("POSTGRES_API_SERVER_POOL_SIZE", "20"),
            ("POSTGRES_API_SERVER_POOL_OVERFLOW", "10"),
        ],
    },
    // helm: 512Mi / 1Gi.
    ServiceSize {
        service: "web-server",
        resources: res(100, 1000, 512, 1024),
        env: &[],
    },
    ServiceSize {
        service: "nginx",
        resources: res(50, 1000, 64, 256),
        env: &[],
    },
];

const LARGE_SIZES: &[ServiceSize] = &[
    // compose: 2 CPUs / 4g.
    ServiceSize {
        service: "postgresql",
        resources: res(500, 2000, 2048, 4096),
        env: &[],
    },
    // helm: 100m/128Mi, 500m/512Mi.
    ServiceSize {
        service: "redis",
        resources: res(100, 500, 128, 512),
        env: &[],
    },
    // compose (commented out): 1 CPU / 1g.
    ServiceSize {
        service: "minio",
        resources: res(100, 1000, 512, 1024),
        env: &[],
    },
    // helm's memory (8000Mi / 32000Mi) and CPU limit (8000m); Vespa's own JVM defaults. The CPU
    // request is below helm's 4000m so the whole stack fits the 6 CPUs this profile asks for.
    ServiceSize {
        service: "vespa",
        resources: res(1500, 8000, 8000, 32000),
        env: &[],
    },
    // helm: 3Gi / 10Gi, 4000m CPU limit (request below helm's 2000m, as for Vespa).
    ServiceSize {
        service: "inference-model-server",
        resources: res(1000, 4000, 3072, 10240),
        env: &[],
    },
    // helm: 500m / 1Gi request; compose: 2 CPUs / 4g. Onyx's default pool (40 + 10).
    ServiceSize {
        service: "api-server",
        resources: res(500, 2000, 1024, 4096),
        env: &[],
    },
    // helm: 200m/512Mi, 1000m/1Gi.
    ServiceSize {
        service: "web-server",
        resources: res(200, 1000, 512, 1024),
        env: &[],
    },
    // compose: 1 CPU / 1g.
    ServiceSize {
        service: "nginx",
        resources: res(100, 1000, 128, 1024),
        env: &[],
    },
];

/// A pod the node runs before the stack arrives, and what it asks of the scheduler. On onyx's own
/// node (kind v0.32.0's default image `kindest/node:v1.36.1`, `pkg/apis/config/defaults/image.go`)
/// these requests are taken from the node's allocatable before any of the stack's, so every fit
/// check counts them (`up`'s profile choice, `plan`, indexing's own check), and the simulator's
/// node carries the same pods (crates/k8s-sim `controllers/seed.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NodePod {
    pub name: &'static str,
    pub replicas: u32,
    pub cpu_request_m: u32,
    pub memory_request_mib: u32,
}

/// The node's own pods. Sources (read from kubernetes/kubernetes through the search index; the
/// v1.36.1 tag itself could not be fetched here — the repository is over the size limit — so each
/// is cited at the stored commit, and these lines have not changed in years):
/// - `cmd/kubeadm/app/phases/controlplane/manifests.go` (`GetStaticPodSpecs`):
///   `staticpodutil.ComponentResources("250m")` for kube-apiserver, `"200m"` for
///   kube-controller-manager, `"100m"` for kube-scheduler; `ComponentResources` sets a CPU
///   request only (no memory).
/// - `cmd/kubeadm/app/phases/etcd/local.go` (`GetEtcdPodSpec`, commit 0009808f): requests cpu 100m,
///   memory 100Mi.
/// - `cmd/kubeadm/app/phases/addons/dns/manifests.go` (`CoreDNSDeployment`, commit 008b3652):
///   requests cpu 100m, memory 70Mi; 2 replicas (kubeadm's `CoreDNSReplicas`).
/// - kind v0.32.0 `pkg/build/nodeimage/const_cni.go` (kindnetd DaemonSet): requests cpu 100m,
///   memory 50Mi.
/// - kind v0.32.0 `pkg/build/nodeimage/const_storage.go` (local-path-provisioner): no requests.
/// - kube-proxy (kubeadm's `addons/proxy` DaemonSet): no requests.
pub const NODE_PODS: &[NodePod] = &[
    NodePod {
        name: "kube-apiserver",
        replicas: 1,
        cpu_request_m: 250,
        memory_request_mib: 0,
    },
    NodePod {
        name: "kube-controller-manager",
        replicas: 1,
        cpu_request_m: 200,
        memory_request_mib: 0,
    },
    NodePod {
        name: "kube-scheduler",
        replicas: 1,
        cpu_request_m: 100,
        memory_request_mib: 0,
    },
    NodePod {
        name: "etcd",
        replicas: 1,
        cpu_request_m: 100,
        memory_request_mib: 100,
    },
    NodePod {
        name: "coredns",
        replicas: 2,
        cpu_request_m: 100,
        memory_request_mib: 70,
    },
    NodePod {
        name: "kindnet",
        replicas: 1,
        cpu_request_m: 100,
        memory_request_mib: 50,
    },
];

const fn node_pods_sum(cpu: bool) -> u32 {
    let mut sum = 0;
    let mut i = 0;
    while i < NODE_PODS.len() {
        let p = &NODE_PODS[i];
        sum += p.replicas
            * if cpu {
                p.cpu_request_m
            } else {
                p.memory_request_mib
            };
        i += 1;
    }
    sum
}

/// CPU the node's own pods request (950m).
pub const NODE_PODS_CPU_M: u32 = node_pods_sum(true);
/// Memory the node's own pods request (290 MiB).
pub const NODE_PODS_MEMORY_MIB: u32 = node_pods_sum(false);

/// Memory the machine needs beyond any pod's request: the kubelet, containerd and the node's
/// pods beyond their requests. Not a figure from any source: an estimate (README says so).
pub const NODE_OVERHEAD_MIB: u32 = 734;

/// What the machine needs beyond the stack's requests: the node's own pods' requests
/// ([`NODE_PODS`]) and the estimate for the rest ([`NODE_OVERHEAD_MIB`]).
pub const CLUSTER_RESERVE_MIB: u32 = NODE_PODS_MEMORY_MIB + NODE_OVERHEAD_MIB;

/// The memory a profile asks of the machine: its requests plus [`CLUSTER_RESERVE_MIB`], rounded
/// up to half a GiB.
pub const fn floor_bytes(sizes: &[ServiceSize]) -> u64 {
    let mut mib = CLUSTER_RESERVE_MIB as u64;
    let mut i = 0;
    while i < sizes.len() {
        mib += sizes[i].resources.memory_request_mib as u64;
        i += 1;
    }
    mib.div_ceil(512) * 512 * MIB
}

pub static SMALL: Profile = Profile {
    name: ProfileName::Small,
    min_memory_bytes: floor_bytes(SMALL_SIZES),
    min_cpus: 2,
    stateless_replicas: 1,
    sizes: SMALL_SIZES,
};

pub static MEDIUM: Profile = Profile {
    name: ProfileName::Medium,
    min_memory_bytes: floor_bytes(MEDIUM_SIZES),
    min_cpus: 4,
    stateless_replicas: 1,
    sizes: MEDIUM_SIZES,
};

pub static LARGE: Profile = Profile {
    name: ProfileName::Large,
    min_memory_bytes: floor_bytes(LARGE_SIZES),
    min_cpus: 6,
    stateless_replicas: 1,
    sizes: LARGE_SIZES,
};

pub static CLUSTER: Profile = Profile {
    name: ProfileName::Cluster,
    min_memory_bytes: floor_bytes(LARGE_SIZES),
    min_cpus: 6,
    stateless_replicas: 2,
    sizes: LARGE_SIZES,
};

/// The machine a profile is chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub memory_bytes: u64,
    pub cpus: u32,
    /// Set for a cluster onyx was given (`--context`): what its nodes can still schedule, its own
    /// pods and whatever else runs there already taken off. `None`: a machine onyx makes its own
    /// node on, from which the node's own pods ([`NODE_PODS`]) and the reserve are still to come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<Room>,
}

impl Capacity {
    /// A machine onyx makes its own node on.
    pub fn machine(memory_bytes: u64, cpus: u32) -> Capacity {
        Capacity {
            memory_bytes,
            cpus,
            room: None,
        }
    }
}

/// What a given cluster can still schedule: per node, its allocatable minus the requests of the
/// pods that run there (as the scheduler's `NodeResourcesFit` counts them), summed; and the most
/// one node has, which the biggest pod needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Room {
    pub cpu_m: u64,
    pub memory_bytes: u64,
    pub node_cpu_m: u64,
    pub node_memory_bytes: u64,
}

/// What a stack asks of the scheduler: the sum of its pods' requests (one replica each, as
/// [`totals`]) and its biggest pod's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ask {
    pub cpu_m: u64,
    pub memory_mib: u64,
    pub pod_cpu_m: u64,
    pub pod_memory_mib: u64,
}

/// What `p` with the `extra` services (indexing's) asks of the scheduler.
pub fn ask(p: &Profile, extra: &[&ServiceSize]) -> Ask {
    p.sizes
        .iter()
        .chain(extra.iter().copied())
        .map(|s| s.resources)
        .fold(
            Ask {
                cpu_m: 0,
                memory_mib: 0,
                pod_cpu_m: 0,
                pod_memory_mib: 0,
            },
            |a, r| {
                // A pod's effective request: the larger of its container's and its init's.
                let cpu = r.cpu_request_m.max(INIT_CONTAINER.cpu_request_m) as u64;
                let mem = r.memory_request_mib.max(INIT_CONTAINER.memory_request_mib) as u64;
                Ask {
                    cpu_m: a.cpu_m + cpu,
                    memory_mib: a.memory_mib + mem,
                    pod_cpu_m: a.pod_cpu_m.max(cpu),
                    pod_memory_mib: a.pod_memory_mib.max(mem),
                }
            },
        )
}

/// The memory a machine needs for `memory_mib` of requests: plus [`CLUSTER_RESERVE_MIB`],
/// rounded up to half a GiB (as [`floor_bytes`]).
pub fn machine_floor_bytes(memory_mib: u64) -> u64 {
    (memory_mib + CLUSTER_RESERVE_MIB as u64).div_ceil(512) * 512 * MIB
}

/// Does `p` with the `extra` services fit `c`? The one fit check every choice makes (profile,
/// indexing, `plan`): on a machine, the memory floor, the profile's CPUs, and the CPU requests
/// with the node's own pods' ([`NODE_PODS_CPU_M`]) within the machine's CPUs (the scheduler
/// leaves a pod Pending past that); on a given cluster, its free room and its roomiest node.
pub fn fits_with(p: &Profile, extra: &[&ServiceSize], c: Capacity) -> bool {
    shortfall_with(p, extra, c).is_none()
}

/// What `c` lacks for `p` with the `extra` services, as (have, need) for a refusal; `None` when
/// it fits.
pub fn shortfall_with(
    p: &Profile,
    extra: &[&ServiceSize],
    c: Capacity,
) -> Option<(String, String)> {
    let a = ask(p, extra);
    let mut have = Vec::new();
    let mut need = Vec::new();
    match c.room {
        None => {
            let floor = machine_floor_bytes(a.memory_mib);
            if c.memory_bytes < floor {
                have.push(format!("{} of memory", gib(c.memory_bytes)));
                need.push(format!(
                    "{} ({} requested by its services + {} for Kubernetes itself)",
                    gib(floor),
                    gib(a.memory_mib * MIB),
                    gib(mib_to_bytes(CLUSTER_RESERVE_MIB))
                ));
            }
            let cpu_need = a.cpu_m + NODE_PODS_CPU_M as u64;
            if c.cpus < p.min_cpus {
                have.push(crate::ui::plural(c.cpus, "CPU", "CPUs"));
                need.push(crate::ui::plural(p.min_cpus, "CPU", "CPUs"));
            } else if cpu_need > c.cpus as u64 * 1000 {
                have.push(crate::ui::plural(c.cpus, "CPU", "CPUs"));
                need.push(format!(
                    "{} ({}m of CPU requested by its services + {}m by Kubernetes' own pods)",
                    crate::ui::plural(cpu_need.div_ceil(1000) as u32, "CPU", "CPUs"),
                    a.cpu_m,
                    NODE_PODS_CPU_M
                ));
            }
        }
        Some(r) => {
            let mem = a.memory_mib * MIB;
            if mem > r.memory_bytes || a.cpu_m > r.cpu_m {
                have.push(format!(
                    "{} of memory and {}m of CPU free to schedule",
                    gib(r.memory_bytes),
                    r.cpu_m
                ));
                need.push(format!(
                    "{} and {}m of CPU (its services' requests)",
                    gib(mem),
                    a.cpu_m
                ));
            } else if a.pod_memory_mib * MIB > r.node_memory_bytes || a.pod_cpu_m > r.node_cpu_m {
                have.push(format!(
                    "at most {} of memory and {}m of CPU free on one node",
                    gib(r.node_memory_bytes),
                    r.node_cpu_m
                ));
                need.push(format!(
                    "{} and {}m of CPU on one node for its biggest pod",
                    gib(a.pod_memory_mib * MIB),
                    a.pod_cpu_m
                ));
            }
        }
    }
    (!have.is_empty()).then(|| {
        (
            have.join(" and "),
            format!("at least {}", need.join(" and ")),
        )
    })
}

/// The outcome of choosing a profile.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    pub profile: &'static Profile,
    /// Chosen from the machine's size (not named by the user).
    pub automatic: bool,
    /// Named by the user with --force although the machine looks too small.
    pub forced: bool,
}

/// Why a profile can't run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub profile: ProfileName,
    pub have: String,
    pub need: String,
    pub hint: String,
}

/// Format bytes as GiB with one decimal ("7.6 GiB").
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

fn fits(p: &Profile, c: Capacity) -> bool {
    fits_with(p, &[], c)
}

fn shortfall(p: &Profile, c: Capacity, hint: String) -> Refusal {
    let (have, need) = shortfall_with(p, &[], c).unwrap_or_default();
    Refusal {
        profile: p.name,
        have,
        need,
        hint,
    }
}

/// The choice when the machine's size cannot change it: `cluster` (it is for other clusters), or
/// any profile named with `force` (then the size only decides whether [`choose`] marks it
/// `forced`, i.e. whether to warn). `None`: the choice needs the machine's capacity.
pub fn regardless_of_size(requested: Option<ProfileName>, force: bool) -> Option<Choice> {
    match requested {
        Some(name) if force || name == ProfileName::Cluster => Some(Choice {
            profile: profile(name),
            automatic: false,
            forced: false,
        }),
        _ => None,
    }
}

/// Choose the profile for a machine: the one asked for, or the largest that fits.
///
/// A named profile that doesn't fit is refused unless `force`; with no profile named and not even
/// `small` fitting, the refusal gives the numbers and what to do.
pub fn choose(
    capacity: Capacity,
    requested: Option<ProfileName>,
    force: bool,
) -> Result<Choice, Refusal> {
    match requested {
        Some(name) => {
            let p = profile(name);
            // `cluster` is for other clusters: the local machine's size says nothing about it.
            if name == ProfileName::Cluster || fits(p, capacity) {
                Ok(Choice {
                    profile: p,
                    automatic: false,
                    forced: false,
                })
            } else if force {
                Ok(Choice {
                    profile: p,
                    automatic: false,
                    forced: true,
                })
            } else {
                let smaller = Profile::host_profiles()
                    .into_iter()
                    .rev()
                    .find(|q| q.name < name && fits(q, capacity));
                let hint = match smaller {
                    Some(q) => format!(
                        "use --profile {} (fits this machine), or --force to try {name} anyway",
                        q.name
                    ),
                    None => "give Docker more memory/CPUs, or --force to try anyway".to_string(),
                };
                Err(shortfall(p, capacity, hint))
            }
        }
        None => {
            if let Some(p) = Profile::host_profiles()
                .into_iter()
                .rev()
                .find(|p| fits(p, capacity))
            {
                Ok(Choice {
                    profile: p,
                    automatic: true,
                    forced: false,
                })
            } else if force {
                Ok(Choice {
                    profile: &SMALL,
                    automatic: true,
                    forced: true,
                })
            } else {
                Err(shortfall(
                    &SMALL,
                    capacity,
                    "close other programs or give Docker's VM more memory (Docker Desktop: \
                     Settings > Resources), or pass --force to try the small profile anyway"
                        .to_string(),
                ))
            }
        }
    }
}

/// The choice for output that is not applied here (`render`, `plan`): never refused for the size
/// of this machine, since it may be printed for another cluster. Returns what [`choose`] would
/// have refused with, for a warning: the profile named (or `small` when none fits).
pub fn choose_for_output(
    capacity: Capacity,
    requested: Option<ProfileName>,
) -> (Choice, Option<Refusal>) {
    match choose(capacity, requested, false) {
        Ok(c) => (c, None),
        Err(r) => {
            let p = profile(requested.unwrap_or(ProfileName::Small));
            (
                Choice {
                    profile: p,
                    automatic: requested.is_none(),
                    forced: true,
                },
                Some(r),
            )
        }
    }
}

/// Sum of memory requests/limits and CPU requests of a profile's services, one replica each.
pub fn totals(p: &Profile) -> Resources {
    p.sizes.iter().fold(res(0, 0, 0, 0), |acc, s| {
        res(
            acc.cpu_request_m + s.resources.cpu_request_m,
            acc.cpu_limit_m + s.resources.cpu_limit_m,
            acc.memory_request_mib + s.resources.memory_request_mib,
            acc.memory_limit_mib + s.resources.memory_limit_mib,
        )
    })
}

/// MiB → bytes.
pub fn mib_to_bytes(mib: u32) -> u64 {
    mib as u64 * MIB
}

/// Parse a size such as `8GiB`, `8G`, `8gb`, `6144MiB`, `6144M` (a bare number is GiB).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "g" | "gi" | "gib" | "gb" => GIB,
        "m" | "mi" | "mib" | "mb" => MIB,
        "t" | "ti" | "tib" | "tb" => 1024 * GIB,
        _ => return None,
    };
    (value.is_finite() && value >= 0.0).then_some((value * factor as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(gib_: f64, cpus: u32) -> Capacity {
        Capacity::machine((gib_ * GIB as f64) as u64, cpus)
    }

    #[test]
    fn automatic_choice_for_a_range_of_machines() {
        // (memory GiB, CPUs, expected profile or None for a refusal)
        let table: &[(f64, u32, Option<ProfileName>)] = &[
            (2.0, 2, None),
            (4.0, 8, None),
            (6.0, 4, None), // the old floor: Vespa's 3 GiB alone leaves too little for the rest
            (7.4, 4, None),
            (7.5, 1, None),
            (7.5, 2, Some(ProfileName::Small)),
            (7.6, 4, Some(ProfileName::Small)), // an "8 GiB" Linux laptop as the OS reports it
            (9.9, 8, Some(ProfileName::Small)),
            (10.0, 4, Some(ProfileName::Medium)),
            (15.5, 8, Some(ProfileName::Medium)), // a "16 GiB" machine
            (24.0, 2, Some(ProfileName::Small)),  // memory alone is not enough
            (24.0, 4, Some(ProfileName::Medium)),
            (16.4, 6, Some(ProfileName::Medium)),
            (16.5, 6, Some(ProfileName::Large)),
            (64.0, 16, Some(ProfileName::Large)), // never `cluster` by itself
        ];
        for &(mem, cpus, want) in table {
            let got = choose(cap(mem, cpus), None, false);
            match want {
                Some(name) => {
                    let c = got.unwrap_or_else(|r| panic!("{mem} GiB/{cpus}: refused {r:?}"));
                    assert_eq!(c.profile.name, name, "{mem} GiB / {cpus} CPUs");
                    assert!(c.automatic && !c.forced);
                }
                None => {
                    let r = got.err().unwrap_or_else(|| panic!("{mem}/{cpus} accepted"));
                    assert_eq!(r.profile, ProfileName::Small);
                }
            }
        }
    }

    #[test]
    fn a_choice_made_regardless_of_size_is_the_one_any_machine_gets() {
        let names = [
            ProfileName::Small,
            ProfileName::Medium,
            ProfileName::Large,
            ProfileName::Cluster,
        ];
        let machines = [cap(1.0, 1), cap(7.6, 4), cap(64.0, 16)];
        for force in [false, true] {
            for requested in names.into_iter().map(Some).chain([None]) {
                let Some(early) = regardless_of_size(requested, force) else {
                    // Only an unforced host profile (or none named) needs the machine.
                    assert!(!force || requested.is_none(), "{requested:?} force={force}");
                    assert_ne!(requested, Some(ProfileName::Cluster));
                    continue;
                };
                for &m in &machines {
                    let c = choose(m, requested, force).expect("never refused");
                    assert_eq!(c.profile.name, early.profile.name);
                    assert!(!c.automatic && !early.automatic);
                }
            }
        }
    }

    #[test]
    fn refusal_gives_the_numbers() {
        let r = choose(cap(4.0, 2), None, false).unwrap_err();
        assert_eq!(r.have, "4.0 GiB of memory");
        assert_eq!(
            r.need,
            "at least 7.5 GiB (6.2 GiB requested by its services + 1.0 GiB for Kubernetes itself)"
        );
        let r = choose(cap(4.0, 1), None, false).unwrap_err();
        assert_eq!(r.have, "4.0 GiB of memory and 1 CPU");
        assert!(r.need.ends_with(" and 2 CPUs"), "{}", r.need);
    }

    #[test]
    fn output_choices_are_never_refused_for_this_machine() {
        for requested in [
            Some(ProfileName::Small),
            Some(ProfileName::Medium),
            Some(ProfileName::Large),
            Some(ProfileName::Cluster),
            None,
        ] {
            let (c, refusal) = choose_for_output(cap(2.0, 1), requested);
            assert_eq!(
                c.profile.name,
                requested.unwrap_or(ProfileName::Small),
                "{requested:?}"
            );
            // `cluster` is never about this machine; the others say what `up` would refuse.
            assert_eq!(refusal.is_some(), requested != Some(ProfileName::Cluster));
            let (c, refusal) = choose_for_output(cap(64.0, 16), requested);
            assert!(refusal.is_none() && !c.forced);
        }
    }

    #[test]
    fn named_profile_too_big_is_refused_with_a_smaller_one_suggested() {
        let r = choose(cap(8.0, 4), Some(ProfileName::Large), false).unwrap_err();
        assert_eq!(r.profile, ProfileName::Large);
        assert!(r.hint.contains("--profile small"), "{}", r.hint);
        let c = choose(cap(8.0, 4), Some(ProfileName::Large), true).unwrap();
        assert!(c.forced);
        assert_eq!(c.profile.name, ProfileName::Large);
    }

    #[test]
    fn force_runs_small_on_a_tiny_machine() {
        let c = choose(cap(3.0, 1), None, true).unwrap();
        assert_eq!(c.profile.name, ProfileName::Small);
        assert!(c.forced);
    }

    #[test]
    fn cluster_is_never_refused_for_the_local_machine() {
        let c = choose(cap(4.0, 2), Some(ProfileName::Cluster), false).unwrap();
        assert_eq!(c.profile.name, ProfileName::Cluster);
    }

    #[test]
    fn profile_budgets() {
        // The floors, re-derived: requests + the reserve for Kubernetes, rounded up to 0.5 GiB.
        assert_eq!(SMALL.min_memory_bytes, 15 * GIB / 2);
        assert_eq!(MEDIUM.min_memory_bytes, 10 * GIB);
        assert_eq!(LARGE.min_memory_bytes, 33 * GIB / 2);
        let small = totals(&SMALL);
        // Leaves room for kind's control plane (~1 CPU of requests) on a 2-CPU machine.
        assert!(small.cpu_request_m <= 1000, "{small:?}");
        for p in Profile::host_profiles() {
            let t = totals(p);
            let need = mib_to_bytes(t.memory_request_mib + CLUSTER_RESERVE_MIB);
            assert!(
                need <= p.min_memory_bytes && p.min_memory_bytes - need < 512 * MIB,
                "{}: the floor is requests + reserve, rounded up to half a GiB",
                p.name
            );
            assert!(t.cpu_request_m < p.min_cpus * 1000, "{}", p.name);
            assert_eq!(p.sizes.len(), crate::stack::catalog::SERVICES.len());
            for s in p.sizes {
                let r = s.resources;
                assert!(
                    r.cpu_request_m <= r.cpu_limit_m && r.memory_request_mib <= r.memory_limit_mib
                );
            }
        }
        // Bigger profiles never give a service less.
        for w in Profile::host_profiles().windows(2) {
            for s in w[0].sizes {
                let b = w[1].size(s.service).unwrap().resources;
                assert!(
                    b.memory_request_mib >= s.resources.memory_request_mib
                        && b.memory_limit_mib >= s.resources.memory_limit_mib,
                    "{}",
                    s.service
                );
            }
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8GiB"), Some(8 * GIB));
        assert_eq!(parse_size("8g"), Some(8 * GIB));
        assert_eq!(parse_size("8"), Some(8 * GIB));
        assert_eq!(parse_size("6144MiB"), Some(6 * GIB));
        assert_eq!(parse_size("1.5G"), Some(GIB + GIB / 2));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("8 parsecs"), None);
        assert_eq!(parse_size(""), None);
    }
}
