//! What the engine says about the host that changes how kind makes a node: cgroup version,
//! rootless, userns-remap, storage driver and backing filesystem, the default bridge's MTU,
//! podman or Docker, and the proxy settings of this process. Gathered once ([`gather`]) into a
//! plain [`NodeHost`]; the pure functions in [`super::node`], [`super::kubeadm`] and
//! [`super::kind::network`] turn it into the node container, the kubeadm config and the network,
//! each following the kind v0.32.0 file cited next to it.
//!
//! [`NodeHost::check`] refuses up front what kind refuses (`pkg/cluster/internal/create/create.go`
//! `validateProvider`) and warns where kind warns.

use std::collections::BTreeMap;

use bollard::Docker;
use bollard::models::SystemInfo;
use serde::Serialize;

use crate::docker::DockerError;

/// The host facts that shape the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeHost {
    /// The engine is podman (its Docker-compatible socket), not Docker.
    pub podman: bool,
    /// `1`, `2`, or empty when the engine doesn't say.
    pub cgroup_version: String,
    /// `systemd`, `cgroupfs`, or `none` (rootless without delegation).
    pub cgroup_driver: String,
    pub rootless: bool,
    /// The daemon remaps user namespaces (`userns-remap`; `name=userns` in its security options).
    pub userns_remap: bool,
    /// `overlay2`, `btrfs`, `zfs`, `devicemapper`, `overlayfs` (containerd store), …
    pub storage_driver: String,
    /// The filesystem under the storage driver (`extfs`, `xfs`, `btrfs`, …), when it says.
    pub backing_filesystem: String,
    /// The cgroup controllers a container can be limited by (kind's `SupportsMemoryLimit`,
    /// `SupportsPidsLimit`, `SupportsCPUShares`).
    pub memory_limit: bool,
    pub pids_limit: bool,
    pub cpu_shares: bool,
    /// `com.docker.network.driver.mtu` of the default `bridge` network, when set.
    pub bridge_mtu: Option<u32>,
    /// Images in containerd's store (Docker Desktop's default for new installs).
    pub containerd_image_store: bool,
    /// The proxy variables of this process (kind reads them from its own environment).
    pub proxy: Proxy,
    /// `KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER` of this process, when set (even empty): kind
    /// passes it into the node for the node's entrypoint to pick containerd's snapshotter.
    pub snapshotter: Option<String>,
}

/// `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY` (each also read lower-case, as kind does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Proxy {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no: Option<String>,
}

impl Proxy {
    /// From an environment lookup: the upper-case name first, then the lower-case one, empty
    /// values ignored (kind v0.32.0 pkg/cluster/internal/providers/common/proxy.go getProxyEnvs).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Proxy {
        let read = |name: &str| {
            get(name)
                .filter(|v| !v.is_empty())
                .or_else(|| get(&name.to_ascii_lowercase()).filter(|v| !v.is_empty()))
        };
        Proxy {
            http: read("HTTP_PROXY"),
            https: read("HTTPS_PROXY"),
            no: read("NO_PROXY"),
        }
    }

    /// This process's proxy settings.
    pub fn from_process() -> Proxy {
        Proxy::from_env(|n| std::env::var(n).ok())
    }

    /// The same with any `user:password@` in the URLs replaced by `***@`, for showing.
    pub fn redacted(&self) -> Proxy {
        Proxy {
            http: self.http.as_deref().map(redact_userinfo),
            https: self.https.as_deref().map(redact_userinfo),
            no: self.no.clone(),
        }
    }

    /// Any of the three set: kind then passes them all, with its NO_PROXY additions.
    pub fn is_set(&self) -> bool {
        self.http.is_some() || self.https.is_some() || self.no.is_some()
    }
}

/// A proxy URL (or `NAME=URL`) with its credentials hidden: `http://u:p@host` → `http://***@host`.
pub fn redact_userinfo(value: &str) -> String {
    if let Some(scheme_end) = value.find("://") {
        let rest = &value[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return format!("{}***{}", &value[..scheme_end + 3], &rest[at..]);
        }
    }
    value.to_string()
}

/// Why the node can't be made on this host, with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: String,
}

impl NodeHost {
    /// The engine reports cgroup v1.
    pub fn cgroup_v1(&self) -> bool {
        self.cgroup_version == "1"
    }

    pub fn cgroup_v2(&self) -> bool {
        self.cgroup_version == "2"
    }

    /// Bind `/dev/mapper` into the node: the storage driver is btrfs, zfs or devicemapper, or
    /// the backing filesystem is btrfs, zfs or xfs; never for rootless Docker, which can't make
    /// device nodes (kind v0.32.0 pkg/cluster/internal/providers/docker/util.go mountDevMapper;
    /// podman/util.go mountDevMapper has no rootless exception).
    pub fn mount_dev_mapper(&self) -> bool {
        if self.rootless && !self.podman {
            return false;
        }
        let driver = self.storage_driver.to_ascii_lowercase();
        let backing = self.backing_filesystem.to_ascii_lowercase();
        matches!(driver.as_str(), "btrfs" | "zfs" | "devicemapper")
            || matches!(backing.as_str(), "btrfs" | "zfs" | "xfs")
    }

    /// Pass `/dev/fuse` for fuse-overlayfs: rootless engines don't add it to privileged
    /// containers (kind v0.32.0 docker/util.go and podman/util.go mountFuse).
    pub fn mount_fuse(&self) -> bool {
        self.rootless
    }

    /// Run the node in the host's user namespace: a userns-remap daemon refuses a privileged
    /// container otherwise (kind v0.32.0 docker/util.go usernsRemap; the podman provider has no
    /// such case).
    pub fn userns_host(&self) -> bool {
        self.userns_remap && !self.podman
    }

    /// The cgroup controllers a rootless engine lacks (kind needs cpu, memory and pids).
    pub fn missing_controllers(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.cpu_shares {
            missing.push("cpu");
        }
        if !self.memory_limit {
            missing.push("memory");
        }
        if !self.pids_limit {
            missing.push("pids");
        }
        missing
    }

    /// What kind refuses before making anything, and the warnings it gives (kind v0.32.0
    /// pkg/cluster/internal/create/create.go validateProvider).
    pub fn check(&self) -> Result<Vec<String>, Refusal> {
        let engine = if self.podman { "podman" } else { "Docker" };
        if self.rootless {
            if !self.cgroup_v2() {
                return Err(Refusal {
                    message: format!(
                        "rootless {engine} needs cgroup v2 to run a Kubernetes node, and this \
                         host uses cgroup v{}",
                        if self.cgroup_version.is_empty() {
                            "?"
                        } else {
                            &self.cgroup_version
                        }
                    ),
                    hint: "boot the host with cgroup v2 (add systemd.unified_cgroup_hierarchy=1 \
                           to GRUB_CMDLINE_LINUX in /etc/default/grub, run `sudo update-grub`, \
                           reboot), or use a rootful engine; see \
                           https://kind.sigs.k8s.io/docs/user/rootless/"
                        .into(),
                });
            }
            let missing = self.missing_controllers();
            if !missing.is_empty() {
                return Err(Refusal {
                    message: format!(
                        "rootless {engine} can't limit the node's {} (the cgroup controllers \
                         aren't delegated to your user)",
                        missing.join(", ")
                    ),
                    hint: "delegate them with systemd: create \
                           /etc/systemd/system/user@.service.d/delegate.conf holding \
                           \"[Service]\" and \"Delegate=yes\" (systemd 252 and later delegate \
                           cpu already), run `sudo systemctl daemon-reload`, then log out and in \
                           again; see https://kind.sigs.k8s.io/docs/user/rootless/"
                        .into(),
                });
            }
        }
        let mut warnings = Vec::new();
        if self.cgroup_v1() {
            warnings.push(CGROUP_V1_DEPRECATED.to_string());
        }
        Ok(warnings)
    }
}

/// kind's warning, said by `plan`, `doctor` and `cluster create` when the engine reports
/// cgroup v1 (kind v0.32.0 create.go validateProvider); onyx sets `failCgroupV1: false` so the
/// kubelet still starts there.
pub const CGROUP_V1_DEPRECATED: &str = "this engine uses cgroup v1, which Kubernetes has \
     deprecated (the kubelet refuses it by default since 1.35; onyx tells it not to): move the \
     host to cgroup v2 while it still works";

/// The facts from the engine's `/info`, whether it is podman, and the default bridge's options
/// (pure, for tests).
pub fn from_info(
    info: &SystemInfo,
    podman: bool,
    bridge_options: Option<&std::collections::HashMap<String, String>>,
    proxy: Proxy,
) -> NodeHost {
    let security = info.security_options.clone().unwrap_or_default();
    let driver_status = info.driver_status.clone().unwrap_or_default();
    let status: BTreeMap<&str, &str> = driver_status
        .iter()
        .filter(|kv| kv.len() == 2)
        .map(|kv| (kv[0].as_str(), kv[1].as_str()))
        .collect();
    let cgroup_driver = info
        .cgroup_driver
        .as_ref()
        .map(|d| d.to_string())
        .unwrap_or_default();
    // kind v0.32.0 docker/provider.go info(): with CgroupDriver "none" the limit flags are
    // meaningless and count as false (moby#42151).
    let limits = cgroup_driver != "none";
    // Each security option is a CSV record like "name=seccomp,profile=default"; kind looks for
    // the field "name=rootless" (docker/provider.go info) and the text "name=userns"
    // (docker/util.go usernsRemap).
    let fields: Vec<&str> = security
        .iter()
        .flat_map(|o| o.split(','))
        .map(str::trim)
        .collect();
    NodeHost {
        podman,
        cgroup_version: info
            .cgroup_version
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_default(),
        cgroup_driver,
        rootless: fields.contains(&"name=rootless"),
        userns_remap: security.iter().any(|o| o.contains("name=userns")),
        storage_driver: info.driver.clone().unwrap_or_default(),
        backing_filesystem: status
            .get("Backing Filesystem")
            .map(|s| s.to_string())
            .unwrap_or_default(),
        memory_limit: limits && info.memory_limit.unwrap_or(false),
        pids_limit: limits && info.pids_limit.unwrap_or(false),
        cpu_shares: limits && info.cpu_shares.unwrap_or(false),
        bridge_mtu: bridge_options
            .and_then(|o| o.get("com.docker.network.driver.mtu"))
            .and_then(|m| m.trim().parse().ok())
            .filter(|m| *m > 0),
        containerd_image_store: status
            .get("driver-type")
            .is_some_and(|t| t.starts_with("io.containerd")),
        proxy,
        snapshotter: None,
    }
}

/// Whether `/version` names podman (its compat API lists a "Podman Engine" component).
pub fn is_podman(version: &bollard::models::SystemVersion) -> bool {
    version
        .components
        .iter()
        .flatten()
        .any(|c| c.name.to_ascii_lowercase().contains("podman"))
}

/// Ask the engine once: `/info`, `/version` and the default `bridge` network (kind v0.32.0
/// docker/network.go getDefaultNetworkMTU reads its MTU the same way).
pub async fn gather(docker: &Docker) -> Result<NodeHost, DockerError> {
    let info = docker.info().await?;
    let podman = match docker.version().await {
        Ok(v) => is_podman(&v),
        Err(_) => false,
    };
    let bridge = docker
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .ok();
    Ok(from_info(
        &info,
        podman,
        bridge.as_ref().and_then(|n| n.options.as_ref()),
        Proxy::from_process(),
    )
    .with_snapshotter(std::env::var(SNAPSHOTTER_ENV).ok()))
}

/// The variable kind v0.32.0 propagates into every node ("-e",
/// "KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER" in `providers/docker/provision.go` and
/// `providers/podman/provision.go` runArgsForNode); the node image's entrypoint reads it.
pub const SNAPSHOTTER_ENV: &str = "KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER";

impl NodeHost {
    /// The same facts with this process's `KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER`.
    pub fn with_snapshotter(mut self, value: Option<String>) -> NodeHost {
        self.snapshotter = value;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum};
    use std::collections::HashMap;

    /// Docker 20.10 on this project's machines: cgroup v1, overlay2 on extfs.
    pub(crate) fn docker_20_10_info() -> SystemInfo {
        SystemInfo {
            driver: Some("overlay2".into()),
            driver_status: Some(vec![
                vec!["Backing Filesystem".into(), "extfs".into()],
                vec!["Supports d_type".into(), "true".into()],
            ]),
            security_options: Some(vec!["name=seccomp,profile=default".into()]),
            cgroup_version: Some(SystemInfoCgroupVersionEnum::_1),
            cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
            memory_limit: Some(true),
            pids_limit: Some(true),
            cpu_shares: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn proxy_reads_upper_then_lower_case_and_skips_empty() {
        let env = HashMap::from([
            ("HTTP_PROXY", ""),
            ("http_proxy", "http://p:3128"),
            ("HTTPS_PROXY", "http://s:3128"),
        ]);
        let p = Proxy::from_env(|n| env.get(n).map(|v| v.to_string()));
        assert_eq!(p.http.as_deref(), Some("http://p:3128"));
        assert_eq!(p.https.as_deref(), Some("http://s:3128"));
        assert_eq!(p.no, None);
        assert!(p.is_set());
        assert!(!Proxy::from_env(|_| None).is_set());
        assert_eq!(
            redact_userinfo("HTTP_PROXY=http://me:secret@proxy:3128/x"),
            "HTTP_PROXY=http://***@proxy:3128/x"
        );
        assert_eq!(redact_userinfo("http://proxy:3128"), "http://proxy:3128");
    }

    #[test]
    fn facts_from_docker_20_10() {
        let h = from_info(&docker_20_10_info(), false, None, Proxy::default());
        assert!(h.cgroup_v1() && !h.rootless && !h.userns_remap);
        assert_eq!(h.backing_filesystem, "extfs");
        assert!(!h.mount_dev_mapper() && !h.mount_fuse() && !h.userns_host());
        assert_eq!(h.bridge_mtu, None);
        // kind warns on cgroup v1 and goes on.
        assert_eq!(h.check().unwrap(), [CGROUP_V1_DEPRECATED]);
    }

    #[test]
    fn mtu_userns_and_containerd_store_are_read() {
        let mut info = docker_20_10_info();
        info.security_options = Some(vec![
            "name=seccomp,profile=default".into(),
            "name=userns".into(),
        ]);
        info.driver_status = Some(vec![vec![
            "driver-type".into(),
            "io.containerd.snapshotter.v1".into(),
        ]]);
        let opts = HashMap::from([(
            "com.docker.network.driver.mtu".to_string(),
            "1400".to_string(),
        )]);
        let h = from_info(&info, false, Some(&opts), Proxy::default());
        assert_eq!(h.bridge_mtu, Some(1400));
        assert!(h.userns_remap && h.userns_host());
        assert!(h.containerd_image_store);
        // podman has no userns case in kind.
        let p = from_info(&info, true, Some(&opts), Proxy::default());
        assert!(!p.userns_host());
    }

    #[test]
    fn rootless_needs_cgroup_v2_and_delegated_controllers() {
        // kind v0.32.0 pkg/cluster/internal/create/create.go validateProvider.
        let mut info = docker_20_10_info();
        info.security_options = Some(vec![
            "name=seccomp,profile=builtin".into(),
            "name=rootless".into(),
        ]);
        let v1 = from_info(&info, false, None, Proxy::default());
        assert!(v1.rootless);
        let e = v1.check().unwrap_err();
        assert!(e.message.contains("cgroup v2"), "{}", e.message);
        assert!(e.hint.contains("systemd.unified_cgroup_hierarchy=1"));

        info.cgroup_version = Some(SystemInfoCgroupVersionEnum::_2);
        info.cgroup_driver = Some(SystemInfoCgroupDriverEnum::SYSTEMD);
        info.cpu_shares = Some(false);
        let e = from_info(&info, false, None, Proxy::default())
            .check()
            .unwrap_err();
        assert!(e.message.contains("cpu"), "{}", e.message);
        assert!(e.hint.contains("Delegate=yes"));

        // Driver "none": the limit flags count as false whatever they say (moby#42151).
        info.cpu_shares = Some(true);
        info.cgroup_driver = Some(SystemInfoCgroupDriverEnum::NONE);
        let none = from_info(&info, false, None, Proxy::default());
        assert_eq!(none.missing_controllers(), ["cpu", "memory", "pids"]);

        info.cgroup_driver = Some(SystemInfoCgroupDriverEnum::SYSTEMD);
        let ok = from_info(&info, false, None, Proxy::default());
        assert_eq!(ok.check().unwrap(), Vec::<String>::new());
        assert!(ok.mount_fuse());
    }

    #[test]
    fn podman_is_recognised_by_its_version_component() {
        let v = bollard::models::SystemVersion {
            components: Some(vec![bollard::models::SystemVersionComponents {
                name: "Podman Engine".into(),
                version: "5.8.2".into(),
                details: None,
            }]),
            ..Default::default()
        };
        assert!(is_podman(&v));
        assert!(!is_podman(&bollard::models::SystemVersion::default()));
    }
}
