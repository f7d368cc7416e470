//! The node container's spec, as kind makes one: a pure function of a few inputs with a typed
//! result. The Docker-facing code only translates it into the engine's create call, so what the
//! node looks like is decided (and tested) here.
//!
//! The host's facts ([`NodeHost`]) change it as kind v0.32.0 changes its `docker run` / `podman
//! run` arguments (`pkg/cluster/internal/providers/{docker,podman}/provision.go`): `--userns=host`
//! on userns-remap daemons, `/dev/mapper` on btrfs/zfs/devicemapper/xfs, `/dev/fuse` when
//! rootless, the proxy variables with kind's `NO_PROXY` additions, and on podman a named `/var`
//! volume mounted `suid,exec,dev` and an image reference without the tag beside its digest.
//!
//! The stack's data lives in a named volume (`onyx-data`) at the local-path root, or — for data
//! made before onyx used a volume — in the host directory that already holds it ([`DataMount`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::host::{NodeHost, Proxy};

/// kind's labels: which cluster a container belongs to, and its role in it.
pub const LABEL_CLUSTER: &str = "io.x-k8s.kind.cluster";
pub const LABEL_ROLE: &str = "io.x-k8s.kind.role";
/// The node's container name and hostname.
pub const NODE_NAME: &str = "onyx-control-plane";
/// The Docker network kind uses for its nodes.
pub const NETWORK: &str = "kind";
/// The API server's port inside the node.
pub const API_SERVER_PORT: u16 = 6443;
/// The node port of the nginx Service; the UI's host port is mapped to it.
pub const UI_NODE_PORT: u16 = 30080;
/// Where the local-path provisioner keeps volumes inside the node.
pub const STORAGE_ROOT: &str = "/var/local-path-provisioner";
/// The label that says what a volume onyx made holds: `data` (the stack's) or `var` (podman's
/// node `/var`).
pub const LABEL_VOLUME: &str = "dev.onyx.volume";

/// The named volume that holds a cluster's data: `onyx-data` for the default cluster.
pub fn data_volume_name(cluster: &str) -> String {
    format!("{cluster}-data")
}

/// Where the stack's data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum DataMount {
    /// A named Docker volume (the default): no VM file sharing in between, owned by the engine.
    Volume(String),
    /// A host directory: the layout before volumes, kept while it holds data.
    HostDir(PathBuf),
}

/// A named volume to make (if missing) before the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedVolume {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Made new by every create of the node: a volume of this name left behind (a Ctrl-C'd
    /// create, `podman rm`, `kind delete cluster`) is removed first, never mounted (the node's
    /// `/var`: kubeadm would init over the old etcd and kubelet certificates).
    pub fresh: bool,
}

/// A host port published on 127.0.0.1 only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

/// Docker's restart policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// Everything the engine needs to create the node container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub hostname: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub network: String,
    /// Running containers in a container needs a privileged node, as kind's.
    pub privileged: bool,
    pub security_opt: Vec<String>,
    /// Path → mount options.
    pub tmpfs: BTreeMap<String, String>,
    /// Anonymous volumes (removed with the container).
    pub volumes: Vec<String>,
    /// `host:container[:options]`.
    pub binds: Vec<String>,
    pub cgroupns_private: bool,
    pub restart: RestartPolicy,
    /// Our entrypoint (systemd) must be PID 1, not docker-init.
    pub init: bool,
    /// Capabilities added and dropped on top of `privileged` (kind sets none; empty here).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub tty: bool,
    pub env: Vec<String>,
    pub ports: Vec<PortMapping>,
    /// Host devices passed in (same path inside).
    pub devices: Vec<String>,
    /// `host` on userns-remap daemons.
    pub userns_mode: Option<String>,
    /// Named volumes made before the container, with our labels.
    pub named_volumes: Vec<NamedVolume>,
    /// Where the stack's data lives.
    pub data: DataMount,
}

/// What varies between nodes: the cluster's name, the image, the host ports and where data lives
/// on the host.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The cluster's name (`onyx` unless several clusters live side by side, as in tests); the
    /// node is `<cluster>-control-plane`.
    pub cluster: String,
    pub image: String,
    /// Host port (on 127.0.0.1) of the API server, chosen free by onyx.
    pub api_server_port: u16,
    /// Host port (on 127.0.0.1) of the UI.
    pub ui_port: u16,
    /// Where the stack's data lives, so it survives the node's re-creation.
    pub data: DataMount,
    /// What the engine says about the host.
    pub host: NodeHost,
}

fn localhost(host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        host_ip: "127.0.0.1".into(),
        host_port,
        container_port,
        protocol: "tcp".into(),
    }
}

/// The labels of a volume onyx makes for a cluster.
fn volume_labels(cluster: &str, holds: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_CLUSTER.into(), cluster.into()),
        (LABEL_VOLUME.into(), holds.into()),
        ("app.kubernetes.io/managed-by".into(), "onyx".into()),
        ("app.kubernetes.io/part-of".into(), "onyx".into()),
    ])
}

/// podman's name for an image: the tag dropped when a digest pins it, and the registry and
/// `library/` spelled out (kind v0.32.0 pkg/cluster/internal/providers/podman/images.go
/// sanitizeImage).
pub fn podman_image(image: &str) -> String {
    let (friendly, remainder) = match image.split_once("@sha256:") {
        Some((name, digest)) => {
            let last_slash = name.rfind('/');
            let stripped = match name.rfind(':') {
                Some(c) if last_slash.is_none_or(|s| c > s) => &name[..c],
                _ => name,
            };
            (name, format!("{stripped}@sha256:{digest}"))
        }
        None => (image, image.to_string()),
    };
    let remainder = if remainder.contains('/') {
        remainder
    } else {
        format!("library/{remainder}")
    };
    match friendly.find('/') {
        Some(i) if friendly[..i].contains(['.', ':']) || &friendly[..i] == "localhost" => remainder,
        _ => format!("docker.io/{remainder}"),
    }
}

/// Split a bind spec `host:container[:options]` at the colon after the host path; a Windows
/// drive letter (`C:\…`, `C:/…`) is part of the host path.
pub fn split_bind(bind: &str) -> Option<(&str, &str)> {
    let b = bind.as_bytes();
    let skip = if b.len() > 2
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && matches!(b[2], b'\\' | b'/')
    {
        2
    } else {
        0
    };
    let i = bind[skip..].find(':')? + skip;
    Some((&bind[..i], &bind[i + 1..]))
}

/// The proxy variables for the node, as kind passes them: each set variable in upper and lower
/// case, and `NO_PROXY` extended with the network's subnets, the service and pod subnets, the
/// node names and the cluster's DNS suffixes (kind v0.32.0 providers/common/proxy.go
/// getProxyEnvs, providers/docker/provision.go getProxyEnv). Nothing when no proxy is set.
pub fn proxy_env(
    proxy: &Proxy,
    network_subnets: &[String],
    service_subnet: &str,
    pod_subnet: &str,
    node_names: &[String],
) -> Vec<String> {
    if !proxy.is_set() {
        return Vec::new();
    }
    // common/proxy.go: the user's NO_PROXY, then the service and pod subnets.
    let mut no_proxy = proxy.no.clone().unwrap_or_default();
    if !no_proxy.is_empty() {
        no_proxy.push(',');
    }
    no_proxy.push_str(&format!("{service_subnet},{pod_subnet}"));
    // docker/provision.go: the network's subnets first, then that, the node names, DNS suffixes.
    let mut list: Vec<String> = network_subnets
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    list.push(no_proxy);
    list.extend(node_names.iter().cloned());
    list.extend([".svc", ".svc.cluster", ".svc.cluster.local"].map(String::from));
    let no_proxy = list.join(",");
    let mut env = Vec::new();
    for (name, value) in [
        ("HTTP_PROXY", proxy.http.as_deref()),
        ("HTTPS_PROXY", proxy.https.as_deref()),
        ("NO_PROXY", Some(no_proxy.as_str())),
    ] {
        if let Some(v) = value {
            env.push(format!("{name}={v}"));
            env.push(format!("{}={v}", name.to_ascii_lowercase()));
        }
    }
    env
}

/// The node container's spec.
pub fn node_spec(opts: &NodeOptions) -> NodeSpec {
    let name = super::node_name(&opts.cluster);
    let host = &opts.host;
    let mut binds = vec!["/lib/modules:/lib/modules:ro".to_string()];
    let mut named_volumes = Vec::new();
    let mut volumes = Vec::new();
    if host.podman {
        // podman mounts volumes nosuid,nodev by default (podman v5.8.2 libpod/options.go
        // WithNamedVolumes → pkg/util/mount_opts.go), anonymous ones too; kind pre-creates the
        // node's /var volume and mounts it suid,exec,dev (kind v0.32.0 podman/provision.go).
        // kind makes a new volume for every node (podman/util.go createAnonymousVolume) and
        // labels it `<node>=true` (podman lists volumes by label key only), which its
        // DeleteNodes (podman/provider.go) removes by: onyx's carries that label too, so `kind
        // delete cluster` removes it, and onyx's delete removes kind's.
        let var = format!("{name}-var");
        binds.push(format!("{var}:/var:suid,exec,dev"));
        let mut labels = volume_labels(&opts.cluster, "var");
        labels.insert(name.clone(), "true".into());
        named_volumes.push(NamedVolume {
            name: var,
            labels,
            fresh: true,
        });
    } else {
        volumes.push("/var".to_string());
    }
    match &opts.data {
        DataMount::Volume(v) => {
            binds.push(format!("{v}:{STORAGE_ROOT}"));
            named_volumes.push(NamedVolume {
                name: v.clone(),
                labels: volume_labels(&opts.cluster, "data"),
                fresh: false,
            });
        }
        DataMount::HostDir(d) => binds.push(format!("{}:{STORAGE_ROOT}", d.display())),
    }
    // kind v0.32.0 docker/provision.go commonArgs (and podman's): /dev/mapper on btrfs, zfs,
    // devicemapper or an xfs backing filesystem, so the kubelet finds the rootfs device.
    if host.mount_dev_mapper() {
        binds.push("/dev/mapper:/dev/mapper".into());
    }
    let mut env = Vec::new();
    if host.podman {
        // kind v0.32.0 podman/provision.go: tell systemd which container manager it runs in.
        env.push("container=podman".to_string());
    }
    env.push("KUBECONFIG=/etc/kubernetes/admin.conf".to_string());
    // kind v0.32.0 docker/provision.go and podman/provision.go runArgsForNode pass
    // `-e KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER` (no value): the docker and podman CLIs take
    // the value from kind's own environment when it is set, even empty (docker/cli
    // opts/env.go ValidateEnv: os.LookupEnv), and pass nothing when it isn't.
    if let Some(v) = &host.snapshotter {
        env.push(format!("{}={v}", super::host::SNAPSHOTTER_ENV));
    }
    NodeSpec {
        name: name.clone(),
        hostname: name,
        image: if host.podman {
            podman_image(&opts.image)
        } else {
            opts.image.clone()
        },
        labels: BTreeMap::from([
            (LABEL_CLUSTER.into(), opts.cluster.clone()),
            (LABEL_ROLE.into(), "control-plane".into()),
            ("app.kubernetes.io/managed-by".into(), "onyx".into()),
        ]),
        network: NETWORK.into(),
        privileged: true,
        security_opt: vec!["seccomp=unconfined".into(), "apparmor=unconfined".into()],
        tmpfs: BTreeMap::from([
            ("/tmp".into(), String::new()),
            ("/run".into(), String::new()),
        ]),
        volumes,
        binds,
        cgroupns_private: true,
        // kind's choice: restart once on failure, i.e. after a host or engine reboot.
        restart: RestartPolicy {
            name: "on-failure".into(),
            maximum_retry_count: 1,
        },
        init: false,
        cap_add: Vec::new(),
        cap_drop: Vec::new(),
        tty: true,
        env,
        ports: vec![
            localhost(opts.api_server_port, API_SERVER_PORT),
            localhost(opts.ui_port, UI_NODE_PORT),
        ],
        // kind v0.32.0 docker/provision.go: rootless engines don't give a privileged container
        // /dev/fuse, which fuse-overlayfs needs.
        devices: if host.mount_fuse() {
            vec!["/dev/fuse".into()]
        } else {
            Vec::new()
        },
        // kind v0.32.0 docker/provision.go + util.go usernsRemap.
        userns_mode: host.userns_host().then(|| "host".to_string()),
        named_volumes,
        data: opts.data.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::CLUSTER_NAME;

    #[test]
    fn spec_is_kinds_with_ports_on_localhost_only() {
        let spec = node_spec(&NodeOptions {
            cluster: CLUSTER_NAME.into(),
            image: "kindest/node:v1.36.1@sha256:abc".into(),
            api_server_port: 41234,
            ui_port: 3000,
            data: DataMount::HostDir("/home/u/.local/share/onyx/data".into()),
            host: NodeHost::default(),
        });
        assert_eq!(spec.name, "onyx-control-plane");
        assert_eq!(spec.hostname, spec.name);
        assert_eq!(spec.labels[LABEL_CLUSTER], "onyx");
        assert_eq!(spec.labels[LABEL_ROLE], "control-plane");
        assert_eq!(spec.network, "kind");
        assert!(spec.privileged && spec.cgroupns_private && spec.tty && !spec.init);
        assert!(spec.cap_add.is_empty() && spec.cap_drop.is_empty());
        assert_eq!(spec.env, ["KUBECONFIG=/etc/kubernetes/admin.conf"]);
        assert_eq!(spec.image, "kindest/node:v1.36.1@sha256:abc");
        assert_eq!(spec.labels.len(), 3);
        assert_eq!(
            spec.security_opt,
            ["seccomp=unconfined", "apparmor=unconfined"]
        );
        assert_eq!(spec.tmpfs.keys().collect::<Vec<_>>(), ["/run", "/tmp"]);
        assert_eq!(spec.volumes, ["/var"]);
        assert!(
            spec.binds
                .contains(&"/lib/modules:/lib/modules:ro".to_string())
        );
        assert!(
            spec.binds.contains(
                &"/home/u/.local/share/onyx/data:/var/local-path-provisioner".to_string()
            )
        );
        assert_eq!(spec.restart.name, "on-failure");
        assert_eq!(spec.restart.maximum_retry_count, 1);
        assert_eq!(
            spec.ports,
            [localhost(41234, 6443), localhost(3000, UI_NODE_PORT)]
        );
        assert!(spec.ports.iter().all(|p| p.host_ip == "127.0.0.1"));
    }

    #[test]
    fn another_cluster_gets_its_own_names() {
        let spec = node_spec(&NodeOptions {
            cluster: "t-42".into(),
            image: "x:1".into(),
            api_server_port: 1,
            ui_port: 2,
            data: DataMount::Volume(data_volume_name("t-42")),
            host: NodeHost::default(),
        });
        assert_eq!(spec.name, "t-42-control-plane");
        assert_eq!(spec.hostname, "t-42-control-plane");
        assert_eq!(spec.labels[LABEL_CLUSTER], "t-42");
        assert_eq!(spec.network, NETWORK);
        assert!(
            spec.binds
                .contains(&"t-42-data:/var/local-path-provisioner".to_string())
        );
        assert_eq!(spec.named_volumes[0].name, "t-42-data");
        assert_eq!(spec.named_volumes[0].labels[LABEL_VOLUME], "data");
        assert_eq!(spec.named_volumes[0].labels[LABEL_CLUSTER], "t-42");
    }

    // ---- one test per host variant, each against what kind v0.32.0 does on that host ----

    fn on(host: NodeHost) -> NodeSpec {
        node_spec(&NodeOptions {
            cluster: CLUSTER_NAME.into(),
            image: "kindest/node:v1.36.1@sha256:abc".into(),
            api_server_port: 41234,
            ui_port: 3000,
            data: DataMount::Volume(data_volume_name(CLUSTER_NAME)),
            host,
        })
    }

    fn docker(cgroup: &str) -> NodeHost {
        NodeHost {
            cgroup_version: cgroup.into(),
            cgroup_driver: if cgroup == "1" { "cgroupfs" } else { "systemd" }.into(),
            storage_driver: "overlay2".into(),
            backing_filesystem: "extfs".into(),
            memory_limit: true,
            pids_limit: true,
            cpu_shares: true,
            ..NodeHost::default()
        }
    }

    /// The spec on a plain rootful Docker host: kind's docker/provision.go runArgsForNode +
    /// commonArgs with none of the host cases.
    fn assert_plain(spec: &NodeSpec) {
        assert_eq!(spec.volumes, ["/var"]);
        assert_eq!(
            spec.binds,
            [
                "/lib/modules:/lib/modules:ro",
                "onyx-data:/var/local-path-provisioner"
            ]
        );
        assert!(spec.devices.is_empty());
        assert_eq!(spec.userns_mode, None);
        assert_eq!(spec.env, ["KUBECONFIG=/etc/kubernetes/admin.conf"]);
        assert_eq!(spec.image, "kindest/node:v1.36.1@sha256:abc");
    }

    #[test]
    fn cgroup_v1_and_v2_docker_hosts_get_kinds_plain_node() {
        // kind v0.32.0 docker/provision.go: nothing in the node's arguments depends on the
        // cgroup version (only the kubeadm config does, see kubeadm.rs).
        assert_plain(&on(docker("1")));
        assert_plain(&on(docker("2")));
    }

    #[test]
    fn containerd_image_store_changes_nothing_in_the_node() {
        // kind v0.32.0 docker/util.go mountDevMapper: driver "overlayfs" (containerd's
        // snapshotter) is none of btrfs/zfs/devicemapper, and the store reports no backing
        // filesystem.
        let mut h = docker("2");
        h.storage_driver = "overlayfs".into();
        h.backing_filesystem = String::new();
        h.containerd_image_store = true;
        assert_plain(&on(h));
    }

    #[test]
    fn btrfs_zfs_devicemapper_and_xfs_bind_dev_mapper() {
        // kind v0.32.0 docker/util.go mountDevMapper and provision.go `--volume
        // /dev/mapper:/dev/mapper`.
        for (driver, backing) in [
            ("btrfs", "btrfs"),
            ("zfs", "zfs"),
            ("devicemapper", "xfs"),
            ("overlay2", "xfs"),
            ("overlay2", "btrfs"),
        ] {
            let mut h = docker("2");
            h.storage_driver = driver.into();
            h.backing_filesystem = backing.into();
            let spec = on(h);
            assert!(
                spec.binds.contains(&"/dev/mapper:/dev/mapper".to_string()),
                "{driver}/{backing}: {:?}",
                spec.binds
            );
        }
        // extfs under overlay2: no.
        assert!(
            !on(docker("2"))
                .binds
                .iter()
                .any(|b| b.contains("/dev/mapper"))
        );
    }

    #[test]
    fn rootless_docker_gets_dev_fuse_and_no_dev_mapper() {
        // kind v0.32.0 docker/util.go mountFuse (rootless) and mountDevMapper (never rootless:
        // "Rootless Docker cannot create device nodes").
        let mut h = docker("2");
        h.rootless = true;
        h.storage_driver = "btrfs".into();
        let spec = on(h);
        assert_eq!(spec.devices, ["/dev/fuse"]);
        assert!(!spec.binds.iter().any(|b| b.contains("/dev/mapper")));
        assert_eq!(spec.volumes, ["/var"]);
        assert_eq!(spec.userns_mode, None);
    }

    #[test]
    fn rootless_podman_gets_a_suid_var_volume_fuse_and_a_plain_image_name() {
        // kind v0.32.0 podman/provision.go runArgsForNode (`<volume>:/var:suid,exec,dev`,
        // `-e container=podman`, sanitizeImage) and podman/util.go mountFuse / mountDevMapper
        // (no rootless exception there).
        let mut h = docker("2");
        h.podman = true;
        h.rootless = true;
        h.backing_filesystem = "xfs".into();
        let spec = on(h);
        assert!(spec.volumes.is_empty(), "no anonymous volume on podman");
        assert!(
            spec.binds
                .contains(&"onyx-control-plane-var:/var:suid,exec,dev".to_string()),
            "{:?}",
            spec.binds
        );
        assert_eq!(spec.named_volumes[0].name, "onyx-control-plane-var");
        assert_eq!(spec.named_volumes[0].labels[LABEL_VOLUME], "var");
        // kind's label, which its DeleteNodes removes volumes by (podman/util.go), and made new
        // by every create (kind: createAnonymousVolume per node).
        assert_eq!(spec.named_volumes[0].labels["onyx-control-plane"], "true");
        assert!(spec.named_volumes[0].fresh);
        // The data volume is never made anew.
        assert!(!spec.named_volumes[1].fresh);
        assert!(spec.binds.contains(&"/dev/mapper:/dev/mapper".to_string()));
        assert_eq!(spec.devices, ["/dev/fuse"]);
        assert_eq!(
            spec.env,
            ["container=podman", "KUBECONFIG=/etc/kubernetes/admin.conf"]
        );
        assert_eq!(spec.image, "docker.io/kindest/node@sha256:abc");
    }

    #[test]
    fn the_snapshotter_variable_goes_into_the_node_only_when_set() {
        // kind v0.32.0 docker/provision.go and podman/provision.go: `-e
        // KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER`, which the CLI fills from kind's environment
        // (an empty value included) and leaves out when unset.
        let plain = on(docker("2"));
        assert!(
            !plain
                .env
                .iter()
                .any(|e| e.starts_with("KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER"))
        );
        for podman in [false, true] {
            let mut h = docker("2").with_snapshotter(Some("fuse-overlayfs".into()));
            h.podman = podman;
            assert!(
                on(h).env.contains(
                    &"KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER=fuse-overlayfs".to_string()
                )
            );
        }
        let empty = on(docker("2").with_snapshotter(Some(String::new())));
        assert!(
            empty
                .env
                .contains(&"KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER=".to_string())
        );
    }

    #[test]
    fn userns_remap_docker_runs_the_node_in_the_host_user_namespace() {
        // kind v0.32.0 docker/util.go usernsRemap → provision.go `--userns=host`.
        let mut h = docker("2");
        h.userns_remap = true;
        assert_eq!(on(h.clone()).userns_mode.as_deref(), Some("host"));
        // The podman provider has no such case.
        h.podman = true;
        assert_eq!(on(h).userns_mode, None);
    }

    #[test]
    fn podman_image_names_follow_kinds_sanitize_image() {
        // kind v0.32.0 podman/images.go sanitizeImage (cases of its images_test.go).
        assert_eq!(
            podman_image("kindest/node:v1.36.1@sha256:abc"),
            "docker.io/kindest/node@sha256:abc"
        );
        assert_eq!(
            podman_image("kindest/node:v1.36.1"),
            "docker.io/kindest/node:v1.36.1"
        );
        assert_eq!(podman_image("busybox"), "docker.io/library/busybox");
        assert_eq!(
            podman_image("localhost:5000/a/b:1@sha256:x"),
            "localhost:5000/a/b@sha256:x"
        );
        assert_eq!(podman_image("quay.io/a/b:1"), "quay.io/a/b:1");
        assert_eq!(podman_image("localhost/b:1"), "localhost/b:1");
    }

    #[test]
    fn proxy_env_is_kinds_with_its_no_proxy_additions() {
        // kind v0.32.0 providers/common/proxy.go getProxyEnvs + docker/provision.go getProxyEnv:
        // NO_PROXY = network subnets, the user's NO_PROXY, service and pod subnets, node names,
        // .svc, .svc.cluster, .svc.cluster.local; every variable also in lower case.
        let proxy = Proxy {
            http: Some("http://proxy:3128".into()),
            https: None,
            no: Some("corp.example".into()),
        };
        let env = proxy_env(
            &proxy,
            &["fc00:f853:ccd:e793::/64".into(), "172.18.0.0/16".into()],
            "10.96.0.0/16",
            "10.244.0.0/16",
            &["onyx-control-plane".into()],
        );
        let no = "fc00:f853:ccd:e793::/64,172.18.0.0/16,corp.example,10.96.0.0/16,10.244.0.0/16,\
                  onyx-control-plane,.svc,.svc.cluster,.svc.cluster.local";
        assert_eq!(
            env,
            [
                "HTTP_PROXY=http://proxy:3128".to_string(),
                "http_proxy=http://proxy:3128".to_string(),
                format!("NO_PROXY={no}"),
                format!("no_proxy={no}"),
            ]
        );
        // No NO_PROXY of the user's: the subnets alone.
        let env = proxy_env(
            &Proxy {
                https: Some("http://p".into()),
                ..Proxy::default()
            },
            &[],
            "10.96.0.0/16",
            "10.244.0.0/16",
            &["n".into()],
        );
        assert_eq!(
            env[2],
            "NO_PROXY=10.96.0.0/16,10.244.0.0/16,n,.svc,.svc.cluster,.svc.cluster.local"
        );
        assert!(proxy_env(&Proxy::default(), &[], "a", "b", &[]).is_empty());
    }

    #[test]
    fn bind_specs_split_after_a_windows_drive_letter() {
        assert_eq!(
            split_bind("/lib/modules:/lib/modules:ro"),
            Some(("/lib/modules", "/lib/modules:ro"))
        );
        assert_eq!(
            split_bind(r"C:\Users\u\onyx\data:/var/local-path-provisioner"),
            Some((r"C:\Users\u\onyx\data", "/var/local-path-provisioner"))
        );
        assert_eq!(
            split_bind("D:/onyx/data:/var/local-path-provisioner"),
            Some(("D:/onyx/data", "/var/local-path-provisioner"))
        );
        assert_eq!(
            split_bind("onyx-data:/var/local-path-provisioner"),
            Some(("onyx-data", "/var/local-path-provisioner"))
        );
        assert_eq!(split_bind("/var"), None);
    }
}
