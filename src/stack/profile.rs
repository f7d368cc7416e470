//! Resource profiles: how much CPU and memory each service gets, and the in-app knobs that go with
//! it (Vespa's JVM heaps, the API's connection pool), for a machine of a given size.
//!
//! `small` fits an 8 GiB laptop (the whole stack requests under 6 GiB, limits under 7 GiB),
//! `medium` a 16 GiB one, `large` a workstation (requests under 17 GiB). `cluster` is `large` with
//! the stateless tiers replicated, for real multi-node clusters; it is never chosen automatically.

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
    /// Workstation: needs 20+ GiB and 6+ CPUs
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

const SMALL_SIZES: &[ServiceSize] = &[
    ServiceSize {
        service: "postgresql",
        resources: res(50, 500, 256, 512),
        env: &[],
    },
    ServiceSize {
        service: "redis",
        resources: res(25, 250, 32, 128),
        env: &[],
    },
    ServiceSize {
        service: "minio",
        resources: res(25, 250, 128, 256),
        env: &[],
    },
    ServiceSize {
        service: "vespa",
        resources: res(200, 1000, 1280, 2048),
        env: &[
            ("VESPA_CONFIGSERVER_JVMARGS", "-Xms32M -Xmx128M"),
            ("VESPA_CONFIGPROXY_JVMARGS", "-Xms32M -Xmx32M"),
        ],
    },
    ServiceSize {
        service: "inference-model-server",
        resources: res(100, 1000, 1024, 1536),
        env: &[],
    },
    ServiceSize {
        service: "api-server",
        resources: res(200, 1000, 1024, 1536),
        env: &[
            ("POSTGRES_API_SERVER_POOL_SIZE", "10"),
            ("POSTGRES_API_SERVER_POOL_OVERFLOW", "5"),
        ],
    },
    ServiceSize {
        service: "web-server",
        resources: res(50, 500, 256, 512),
        env: &[],
    },
    ServiceSize {
        service: "nginx",
        resources: res(25, 250, 32, 64),
        env: &[],
    },
];

const MEDIUM_SIZES: &[ServiceSize] = &[
    ServiceSize {
        service: "postgresql",
        resources: res(250, 1000, 1024, 2048),
        env: &[],
    },
    ServiceSize {
        service: "redis",
        resources: res(50, 500, 128, 256),
        env: &[],
    },
    ServiceSize {
        service: "minio",
        resources: res(50, 500, 256, 512),
        env: &[],
    },
    ServiceSize {
        service: "vespa",
        resources: res(500, 2000, 4096, 6144),
        env: &[
            ("VESPA_CONFIGSERVER_JVMARGS", "-Xms128M -Xmx512M"),
            ("VESPA_CONFIGPROXY_JVMARGS", "-Xms32M -Xmx64M"),
        ],
    },
    ServiceSize {
        service: "inference-model-server",
        resources: res(500, 2000, 2048, 3072),
        env: &[],
    },
    ServiceSize {
        service: "api-server",
        resources: res(500, 2000, 2048, 3072),
        env: &[
            ("POSTGRES_API_SERVER_POOL_SIZE", "20"),
            ("POSTGRES_API_SERVER_POOL_OVERFLOW", "10"),
        ],
    },
    ServiceSize {
        service: "web-server",
        resources: res(100, 1000, 512, 1024),
        env: &[],
    },
    ServiceSize {
        service: "nginx",
        resources: res(50, 500, 64, 128),
        env: &[],
    },
];

const LARGE_SIZES: &[ServiceSize] = &[
    ServiceSize {
        service: "postgresql",
        resources: res(500, 2000, 2048, 4096),
        env: &[],
    },
    ServiceSize {
        service: "redis",
        resources: res(100, 1000, 256, 512),
        env: &[],
    },
    ServiceSize {
        service: "minio",
        resources: res(100, 1000, 512, 1024),
        env: &[],
    },
    // Vespa's own JVM defaults: no trimming.
    ServiceSize {
        service: "vespa",
        resources: res(1000, 4000, 8192, 12288),
        env: &[],
    },
    ServiceSize {
        service: "inference-model-server",
        resources: res(1000, 4000, 3072, 6144),
        env: &[],
    },
    ServiceSize {
        service: "api-server",
        resources: res(1000, 4000, 2048, 4096),
        env: &[],
    },
    ServiceSize {
        service: "web-server",
        resources: res(250, 1000, 1024, 2048),
        env: &[],
    },
    ServiceSize {
        service: "nginx",
        resources: res(250, 1000, 128, 256),
        env: &[],
    },
];

pub static SMALL: Profile = Profile {
    name: ProfileName::Small,
    min_memory_bytes: 6 * GIB,
    min_cpus: 2,
    stateless_replicas: 1,
    sizes: SMALL_SIZES,
};

pub static MEDIUM: Profile = Profile {
    name: ProfileName::Medium,
    min_memory_bytes: 12 * GIB,
    min_cpus: 4,
    stateless_replicas: 1,
    sizes: MEDIUM_SIZES,
};

pub static LARGE: Profile = Profile {
    name: ProfileName::Large,
    min_memory_bytes: 20 * GIB,
    min_cpus: 6,
    stateless_replicas: 1,
    sizes: LARGE_SIZES,
};

pub static CLUSTER: Profile = Profile {
    name: ProfileName::Cluster,
    min_memory_bytes: 20 * GIB,
    min_cpus: 6,
    stateless_replicas: 2,
    sizes: LARGE_SIZES,
};

/// The machine a profile is chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub memory_bytes: u64,
    pub cpus: u32,
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

impl From<Refusal> for crate::Error {
    fn from(r: Refusal) -> Self {
        crate::Error::TooSmall {
            machine: "this machine".into(),
            profile: r.profile.to_string(),
            have: r.have,
            need: r.need,
            hint: r.hint,
        }
    }
}

/// Format bytes as GiB with one decimal ("7.6 GiB").
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

fn fits(p: &Profile, c: Capacity) -> bool {
    c.memory_bytes >= p.min_memory_bytes && c.cpus >= p.min_cpus
}

fn shortfall(p: &Profile, c: Capacity, hint: String) -> Refusal {
    let mut have = Vec::new();
    let mut need = Vec::new();
    if c.memory_bytes < p.min_memory_bytes {
        have.push(format!("{} of memory", gib(c.memory_bytes)));
        need.push(gib(p.min_memory_bytes));
    }
    if c.cpus < p.min_cpus {
        have.push(crate::ui::plural(c.cpus, "CPU", "CPUs"));
        need.push(crate::ui::plural(p.min_cpus, "CPU", "CPUs"));
    }
    Refusal {
        profile: p.name,
        have: have.join(" and "),
        need: format!("at least {}", need.join(" and ")),
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
        Capacity {
            memory_bytes: (gib_ * GIB as f64) as u64,
            cpus,
        }
    }

    #[test]
    fn automatic_choice_for_a_range_of_machines() {
        // (memory GiB, CPUs, expected profile or None for a refusal)
        let table: &[(f64, u32, Option<ProfileName>)] = &[
            (2.0, 2, None),
            (4.0, 8, None),
            (5.9, 4, None),
            (6.0, 1, None),
            (6.0, 2, Some(ProfileName::Small)),
            (7.6, 4, Some(ProfileName::Small)), // an "8 GiB" laptop as the OS reports it
            (11.9, 8, Some(ProfileName::Small)),
            (12.0, 4, Some(ProfileName::Medium)),
            (15.5, 8, Some(ProfileName::Medium)),
            (24.0, 2, Some(ProfileName::Small)), // memory alone is not enough
            (24.0, 4, Some(ProfileName::Medium)),
            (20.0, 6, Some(ProfileName::Large)),
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
        assert_eq!(r.need, "at least 6.0 GiB");
        let r = choose(cap(4.0, 1), None, false).unwrap_err();
        assert_eq!(r.have, "4.0 GiB of memory and 1 CPU");
        assert_eq!(r.need, "at least 6.0 GiB and 2 CPUs");
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
        let small = totals(&SMALL);
        assert!(small.memory_request_mib <= 6 * 1024, "{small:?}");
        assert!(small.memory_limit_mib <= 7 * 1024, "{small:?}");
        // Leaves room for kind's control plane (~1 CPU of requests) on a 2-CPU machine.
        assert!(small.cpu_request_m <= 1000, "{small:?}");
        let large = totals(&LARGE);
        assert!(large.memory_request_mib <= 17 * 1024, "{large:?}");
        for p in Profile::host_profiles() {
            let t = totals(p);
            assert!(
                mib_to_bytes(t.memory_request_mib) < p.min_memory_bytes,
                "{}: requests must fit in the memory it asks the host for",
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
                    b.memory_request_mib >= s.resources.memory_request_mib,
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
