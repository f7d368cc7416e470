//! Every command onyx writes into a pod, run for real (issue #20, "Make this class of failure
//! visible in CI"). The simulator answers any exec with a canned reply and never runs an init
//! container, so a command that fails in the real image (GNU `cp -a` without CAP_CHOWN, an import
//! that opens a log file under a read-only root, a 128 Mi limit) passed every other test.
//!
//! Steps, each a file:
//! 1. here: enumerate, **from the render** of every profile (indexing on and off), each container
//!    `command`/`args` and each `exec` probe, with the envelope the kubelet gives it ([`Envelope`]);
//! 2. `binaries`: per pinned image, the binaries it carries (read from its Dockerfile at the tag);
//!    every rendered command and every `doctor` exec may call only those;
//! 3. `standin`: the Onyx backend image's stand-in, built from Debian bookworm with the real
//!    image's layout where the commands touch it, and the peers the wait scripts poll;
//! 4. `run`: each backend command runs in that stand-in inside its envelope (uid/gid/fsGroup,
//!    every capability dropped, read-only root with the emptyDirs as tmpfs, the memory limit, the
//!    rendered env plus the service links); what can't run here (Onyx's own programs) is named
//!    with the reason, and a command that is neither fails the test;
//! 5. `alpine`: the redis pod's commands and doctor's execs in redis and nginx, run on stand-ins
//!    for those alpine images (Debian's redis binaries; a busybox-only image).

mod alpine;
mod binaries;
mod run;
mod standin;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
use onyx::stack::indexing::Indexing;
use onyx::stack::profile::{self, ProfileName};
use onyx::stack::render::{self, Object, RenderOptions, Rendered};
use onyx::stack::secrets::Credentials;
use onyx::stack::summary::parse_quantity;

const PROFILES: [ProfileName; 4] = [
    ProfileName::Small,
    ProfileName::Medium,
    ProfileName::Large,
    ProfileName::Cluster,
];

/// Where a command sits in its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Init,
    Main,
    Probe(&'static str),
}

/// What the kubelet gives one container, read from the rendered pod.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Envelope {
    uid: i64,
    gid: i64,
    /// fsGroup and supplementalGroups: the kubelet adds both to the container's groups.
    groups: Vec<i64>,
    read_only_root: bool,
    /// Capabilities the container adds back after dropping (all are dropped in this stack).
    cap_add: Vec<String>,
    drop_all: bool,
    no_new_privileges: bool,
    memory_mib: Option<u64>,
    /// Mount paths of the pod's emptyDirs in this container, with their sizeLimit in MiB.
    empty_dirs: Vec<(String, Option<u64>)>,
    /// Mounts that are not emptyDirs (configMap, secret, PVC): path and volume name.
    other_mounts: Vec<(String, String)>,
    /// The container's env as the kubelet computes it, service links included.
    env: BTreeMap<String, String>,
}

/// One command onyx writes into a pod.
#[derive(Debug, Clone)]
struct PodCommand {
    profile: ProfileName,
    service: String,
    container: String,
    image: String,
    kind: Kind,
    argv: Vec<String>,
    envelope: Envelope,
}

impl PodCommand {
    fn label(&self) -> String {
        format!(
            "{} {}/{} {:?}",
            self.profile, self.service, self.container, self.kind
        )
    }
}

fn render_profile(p: ProfileName, indexing: Indexing, creds: &Credentials) -> Vec<Rendered> {
    render::render(&RenderOptions {
        profile: profile::profile(p),
        namespace: Some("onyx"),
        web_url: "http://localhost:3000".into(),
        credentials: Some(creds),
        gateway_node_port: None,
        indexing,
        app: Default::default(),
    })
}

/// The service-link variables the kubelet adds for every Service with a cluster IP in the
/// namespace (kubernetes pkg/kubelet/envvars/envvars.go `FromServices`, `makeLinkVariables`;
/// kubelet_pods.go adds them only where the container's own env does not set the name, and not
/// at all with `enableServiceLinks: false`). The cluster IPs are made up: what matters to the
/// programs is the names and the `tcp://IP:PORT` form.
fn service_links(objects: &[Rendered]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut n = 10;
    for r in objects {
        let Object::Service(svc) = &r.object else {
            continue;
        };
        let spec = svc.spec.as_ref().expect("a Service spec");
        if spec.cluster_ip.as_deref() == Some("None") {
            continue; // headless: no IP, no variables
        }
        n += 1;
        let ip = format!("10.96.0.{n}");
        let name = svc
            .metadata
            .name
            .as_deref()
            .unwrap()
            .to_uppercase()
            .replace(['-', '.'], "_");
        let ports = spec.ports.as_deref().unwrap_or_default();
        out.insert(format!("{name}_SERVICE_HOST"), ip.clone());
        if let Some(first) = ports.first() {
            out.insert(format!("{name}_SERVICE_PORT"), first.port.to_string());
            out.insert(format!("{name}_PORT"), format!("tcp://{ip}:{}", first.port));
        }
        for p in ports {
            if let Some(pn) = &p.name {
                out.insert(
                    format!(
                        "{name}_SERVICE_PORT_{}",
                        pn.to_uppercase().replace('-', "_")
                    ),
                    p.port.to_string(),
                );
            }
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            let prefix = format!("{name}_PORT_{}_{proto}", p.port);
            let lower = proto.to_lowercase();
            out.insert(prefix.clone(), format!("{lower}://{ip}:{}", p.port));
            out.insert(format!("{prefix}_PROTO"), lower);
            out.insert(format!("{prefix}_PORT"), p.port.to_string());
            out.insert(format!("{prefix}_ADDR"), ip.clone());
        }
    }
    out
}

/// The container's env as the kubelet computes it: envFrom (ConfigMaps), then env (values and
/// Secret keys, rendered), then the service links where the name is not already set.
fn container_env(objects: &[Rendered], spec: &PodSpec, c: &Container) -> BTreeMap<String, String> {
    let config_map = |name: &str| -> BTreeMap<String, String> {
        objects
            .iter()
            .find_map(|r| match &r.object {
                Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some(name) => {
                    cm.data.clone()
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no ConfigMap {name} in the render"))
    };
    let secret = |name: &str, key: &str| -> String {
        objects
            .iter()
            .find_map(|r| match &r.object {
                Object::Secret(s) if s.metadata.name.as_deref() == Some(name) => s
                    .data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|b| String::from_utf8(b.0.clone()).unwrap()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Secret {name} key {key} in the render"))
    };
    let mut env = BTreeMap::new();
    for from in c.env_from.iter().flatten() {
        if let Some(cm) = &from.config_map_ref {
            env.extend(config_map(&cm.name));
        }
        assert!(from.secret_ref.is_none(), "envFrom a Secret: not read here");
    }
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => {
                if let Some(s) = &from.secret_key_ref {
                    secret(&s.name, &s.key)
                } else if let Some(cm) = &from.config_map_key_ref {
                    config_map(&cm.name)[&cm.key].clone()
                } else if let Some(f) = &from.field_ref {
                    // The downward API, as the kubelet fills it for this rendered namespace.
                    match f.field_path.as_str() {
                        "metadata.namespace" => "onyx".into(),
                        "metadata.name" => format!("{}-0", c.name),
                        "status.podIP" | "status.hostIP" => "10.244.0.10".into(),
                        other => panic!(
                            "{}: env {} from field {other}: not read here",
                            c.name, e.name
                        ),
                    }
                } else {
                    panic!("{}: env {}: a source not read here", c.name, e.name)
                }
            }
            (None, None) => String::new(),
        };
        env.insert(e.name.clone(), value);
    }
    if spec.enable_service_links != Some(false) {
        for (k, v) in service_links(objects) {
            env.entry(k).or_insert(v);
        }
    }
    env
}

fn envelope(objects: &[Rendered], spec: &PodSpec, c: &Container) -> Envelope {
    let pod_sc = spec.security_context.clone().unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    let uid = sc.run_as_user.or(pod_sc.run_as_user).unwrap_or(0);
    let gid = sc.run_as_group.or(pod_sc.run_as_group).unwrap_or(0);
    let mut groups: Vec<i64> = pod_sc.fs_group.into_iter().collect();
    groups.extend(pod_sc.supplemental_groups.iter().flatten());
    let caps = sc.capabilities.clone().unwrap_or_default();
    let memory_mib = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .map(|q| parse_quantity(&q.0).expect("a memory quantity").0);
    let mut empty_dirs = Vec::new();
    let mut other_mounts = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        // Not among the pod's volumes: a StatefulSet's claim template (a PVC).
        let v = spec.volumes.iter().flatten().find(|v| v.name == m.name);
        match v.and_then(|v| v.empty_dir.as_ref()) {
            Some(ed) => empty_dirs.push((
                m.mount_path.clone(),
                ed.size_limit
                    .as_ref()
                    .map(|q| parse_quantity(&q.0).expect("a size").0),
            )),
            None => other_mounts.push((m.mount_path.clone(), m.name.clone())),
        }
    }
    Envelope {
        uid,
        gid,
        groups,
        read_only_root: sc.read_only_root_filesystem == Some(true),
        cap_add: caps.add.unwrap_or_default(),
        drop_all: caps.drop.iter().flatten().any(|d| d == "ALL"),
        no_new_privileges: sc.allow_privilege_escalation == Some(false),
        memory_mib,
        empty_dirs,
        other_mounts,
        env: container_env(objects, spec, c),
    }
}

fn exec_probe(p: &Option<Probe>) -> Option<Vec<String>> {
    p.as_ref()?.exec.as_ref()?.command.clone()
}

/// Every command of every rendered profile, with indexing on (the workers) and at its default.
fn every_command() -> Vec<PodCommand> {
    let creds = Credentials::generate();
    let mut out = Vec::new();
    for p in PROFILES {
        for indexing in [Indexing::default_for(p), Indexing::on(p)] {
            let objects = render_profile(p, indexing, &creds);
            for r in &objects {
                let Some(spec) = r.object.pod_template().and_then(|t| t.spec.as_ref()) else {
                    continue;
                };
                let service = r.service.expect("a workload has a service").to_string();
                let inits = spec.init_containers.iter().flatten().map(|c| (c, true));
                for (c, init) in inits.chain(spec.containers.iter().map(|c| (c, false))) {
                    let env = envelope(&objects, spec, c);
                    let image = c.image.clone().expect("an image");
                    let mut push = |kind: Kind, argv: Vec<String>| {
                        out.push(PodCommand {
                            profile: p,
                            service: service.clone(),
                            container: c.name.clone(),
                            image: image.clone(),
                            kind,
                            argv,
                            envelope: env.clone(),
                        })
                    };
                    let argv: Vec<String> = c
                        .command
                        .iter()
                        .flatten()
                        .chain(c.args.iter().flatten())
                        .cloned()
                        .collect();
                    if !argv.is_empty() {
                        push(if init { Kind::Init } else { Kind::Main }, argv);
                    }
                    for (name, probe) in [
                        ("liveness", &c.liveness_probe),
                        ("readiness", &c.readiness_probe),
                        ("startup", &c.startup_probe),
                    ] {
                        if let Some(cmd) = exec_probe(probe) {
                            push(Kind::Probe(name), cmd);
                        }
                    }
                }
            }
        }
    }
    out
}

/// The backend commands, one per distinct (container, command, envelope): profiles that render
/// the same command in the same envelope run it once.
fn distinct(commands: Vec<PodCommand>) -> Vec<PodCommand> {
    let mut out: Vec<PodCommand> = Vec::new();
    for c in commands {
        let same = |o: &PodCommand| {
            o.container == c.container
                && o.kind == c.kind
                && o.argv == c.argv
                && Envelope {
                    env: BTreeMap::new(),
                    ..o.envelope.clone()
                } == Envelope {
                    env: BTreeMap::new(),
                    ..c.envelope.clone()
                }
                && env_shape(&o.envelope.env) == env_shape(&c.envelope.env)
        };
        if !out.iter().any(same) {
            out.push(c);
        }
    }
    out
}

/// The env without the generated secrets' values (same names, same non-secret values).
fn env_shape(env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| {
            let secret = k.contains("PASSWORD") || k.contains("SECRET") || k.contains("KEY");
            (k.clone(), if secret { String::new() } else { v.clone() })
        })
        .collect()
}

#[test]
fn the_enumeration_finds_every_kind_of_command_the_manifests_hold() {
    // The enumeration is the test's coverage: if it silently found nothing (a renamed field, a
    // profile without workers), every other test here would pass vacuously.
    let all = every_command();
    let has = |container: &str, kind: Kind| {
        all.iter()
            .any(|c| c.container == container && c.kind == kind)
    };
    assert!(has("image-caches", Kind::Init));
    assert!(has("wait-for-dependencies", Kind::Init));
    assert!(has("migrate", Kind::Init));
    assert!(has("wait-for-api-migrations", Kind::Init));
    assert!(has("background", Kind::Probe("readiness")));
    assert!(has("postgresql", Kind::Probe("liveness")));
    assert!(has("redis", Kind::Probe("readiness")));
    assert!(has("web-server", Kind::Probe("startup")));
    for p in PROFILES {
        assert!(
            all.iter()
                .any(|c| c.profile == p && c.service == "background"),
            "{p}: no workers rendered with indexing on"
        );
    }
}

#[test]
fn the_envelope_reads_the_kubelets_view_of_the_pod() {
    let all = every_command();
    let caches = all
        .iter()
        .find(|c| c.container == "image-caches")
        .expect("image-caches");
    // Root in a pod whose group is 1001 (issue #20 item 2's conditions), nothing added back.
    assert_eq!((caches.envelope.uid, caches.envelope.gid), (0, 1001));
    assert_eq!(caches.envelope.groups, vec![1001]);
    assert!(caches.envelope.drop_all && caches.envelope.cap_add.is_empty());
    assert!(caches.envelope.read_only_root);
    assert!(
        caches
            .envelope
            .empty_dirs
            .iter()
            .any(|(p, _)| p == "/onyx-cache")
    );
    // Service links: present unless the pod turns them off, and never over the container's own.
    for c in &all {
        let links = c.envelope.env.contains_key("API_SERVER_SERVICE_HOST");
        assert!(
            links || c.envelope.env.keys().all(|k| !k.ends_with("_SERVICE_HOST")),
            "{}",
            c.label()
        );
    }
    let wait = all
        .iter()
        .find(|c| c.container == "wait-for-api-migrations")
        .expect("wait-for-api-migrations");
    assert!(
        !wait.envelope.env["INDEXING_MODEL_SERVER_PORT"].starts_with("tcp://"),
        "the container's own env wins over a service link"
    );
}
