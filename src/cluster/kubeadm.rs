//! The kubeadm config the node boots with, written to `/kind/kubeadm.conf` before `kubeadm init`.
//!
//! It follows what kind generates for a single control-plane node: certificates valid for
//! localhost/127.0.0.1 (the kubeconfig points there), the API endpoint on the node's address,
//! kind's pod and service subnets, and a kubelet that doesn't garbage-collect or evict on the
//! disk it shares with the host. kubeadm's `v1beta4` API (extra args as name/value lists) is used
//! for Kubernetes ≥ 1.36 and `v1beta3` (extra args as maps) before.
//!
//! Host variants, as kind v0.32.0 `pkg/cluster/internal/kubeadm/config.go` renders them:
//! preflight is skipped in the InitConfiguration (`InitSkipPhases`; on the command line only
//! below 1.23, see [`init_args`]); a rootless engine gets the `KubeletInUserNamespace` feature
//! gate on every component and kube-proxy's conntrack timeouts left alone; and, where kind does
//! nothing, a cgroup v1 host gets `failCgroupV1: false` (the kubelet refuses cgroup v1 by default
//! since 1.35). No document carries `metadata:` (kind's `removeMetadata` strips it: kubeadm
//! complains otherwise).

use std::fmt::Write as _;

/// The kubeadm config API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeadmApi {
    V1Beta3,
    V1Beta4,
}

impl KubeadmApi {
    /// The API version for a Kubernetes version like `v1.36.1` (or `1.36.1`); `None` if it
    /// can't be read.
    pub fn for_version(kubernetes_version: &str) -> Option<KubeadmApi> {
        Some(if minor_version(kubernetes_version)? >= (1, 36) {
            KubeadmApi::V1Beta4
        } else {
            KubeadmApi::V1Beta3
        })
    }

    fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1Beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1Beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

/// What the config is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeadmParams {
    pub kubernetes_version: String,
    pub cluster_name: String,
    pub node_name: String,
    /// The node's address on the Docker network.
    pub node_address: String,
    pub api_bind_port: u16,
    pub pod_subnet: String,
    pub service_subnet: String,
    /// The kubelet's cgroup driver: kind now uses `systemd` for every node image (its containerd
    /// is configured with `SystemdCgroup = true`); `cgroupfs` only for old images.
    pub cgroup_driver: String,
    /// The bootstrap token (unused for one node, but kubeadm wants one).
    pub token: String,
    /// The engine reports cgroup v1: tell the kubelet not to refuse it.
    pub cgroup_v1: bool,
    /// The engine runs rootless (kind's `RootlessProvider`).
    pub rootless: bool,
    /// kind's `NodeProvider` in the provider ID: `docker` or `podman`.
    pub provider: String,
}

impl KubeadmParams {
    /// kind's defaults for a single node of `cluster`.
    pub fn single_node(
        cluster: &str,
        kubernetes_version: &str,
        node_address: &str,
        cgroup_driver: &str,
    ) -> Self {
        KubeadmParams {
            kubernetes_version: kubernetes_version.into(),
            cluster_name: cluster.into(),
            node_name: super::node_name(cluster),
            node_address: node_address.into(),
            api_bind_port: super::node::API_SERVER_PORT,
            pod_subnet: "10.244.0.0/16".into(),
            service_subnet: "10.96.0.0/16".into(),
            cgroup_driver: cgroup_driver.into(),
            token: "abcdef.0123456789abcdef".into(),
            cgroup_v1: false,
            rootless: false,
            provider: "docker".into(),
        }
    }

    /// The same, for the host the engine describes.
    pub fn on_host(mut self, host: &super::host::NodeHost) -> Self {
        self.cgroup_v1 = host.cgroup_v1();
        self.rootless = host.rootless;
        self.provider = if host.podman { "podman" } else { "docker" }.into();
        self
    }

    /// kind's feature gates for this host: `KubeletInUserNamespace=true` when rootless (kind
    /// v0.32.0 config.go `Config`), sorted by name as kind's `SortedFeatureGates`.
    pub fn feature_gates(&self) -> Vec<(&'static str, bool)> {
        if self.rootless {
            vec![("KubeletInUserNamespace", true)]
        } else {
            Vec::new()
        }
    }
}

/// `major.minor` of a version like `v1.36.1`.
fn minor_version(kubernetes_version: &str) -> Option<(u32, u32)> {
    let v = kubernetes_version.trim_start_matches('v');
    let mut parts = v.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.split(['-', '+']).next()?.parse().ok()?;
    Some((major, minor))
}

/// `kubeadm init`'s arguments, as kind's kubeadminit action: preflight is skipped on the command
/// line only below 1.23; newer versions read `skipPhases` from the config (kind v0.32.0
/// pkg/cluster/internal/create/actions/kubeadminit/init.go).
pub fn init_args(kubernetes_version: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "kubeadm",
        "init",
        "--config=/kind/kubeadm.conf",
        "--skip-token-print",
        "--v=6",
    ]
    .map(String::from)
    .into();
    if minor_version(kubernetes_version).is_some_and(|v| v < (1, 23)) {
        args.push("--skip-phases=preflight".into());
    }
    args
}

/// Extra arguments, in the shape the API version wants.
fn extra_args(api: KubeadmApi, key: &str, indent: &str, args: &[(String, String)]) -> String {
    let mut s = format!("{indent}{key}:\n");
    for (name, value) in args {
        match api {
            KubeadmApi::V1Beta3 => {
                let _ = writeln!(s, "{indent}  {name}: \"{value}\"");
            }
            KubeadmApi::V1Beta4 => {
                let _ = writeln!(
                    s,
                    "{indent}  - name: \"{name}\"\n{indent}    value: \"{value}\""
                );
            }
        }
    }
    s
}

/// The whole multi-document config.
pub fn render(p: &KubeadmParams, api: KubeadmApi) -> String {
    let av = api.api_version();
    let endpoint = format!("{}:{}", p.node_name, p.api_bind_port);
    let provider_id = format!("kind://{}/{}/{}", p.provider, p.cluster_name, p.node_name);
    let gates = p.feature_gates();
    let gates_arg = gates
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    // kind passes its feature gates to every component (config.go templates).
    let with_gates = |args: &[(&'static str, &str)]| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        if !gates.is_empty() {
            out.push(("feature-gates".into(), gates_arg.clone()));
        }
        out.extend(args.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        out
    };
    let gates_map = if gates.is_empty() {
        String::new()
    } else {
        let mut m = String::from("featureGates:\n");
        for (n, v) in &gates {
            let _ = writeln!(m, "  \"{n}\": {v}");
        }
        m
    };
    let fail_cgroup_v1 = if p.cgroup_v1 {
        "# The engine uses cgroup v1: the kubelet refuses it by default since 1.35.\nfailCgroupV1: false\n"
    } else {
        ""
    };
    let rootless_conntrack = if p.rootless {
        "  # Rootless: the node can't set these sysctls (kind v0.32.0 config.go).\n  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\n"
    } else {
        ""
    };
    let mut s = String::from("# kubeadm config generated by onyx (as kind makes it)\n");
    let _ = write!(
        s,
        "apiVersion: {av}
kind: ClusterConfiguration
kubernetesVersion: {version}
clusterName: \"{cluster}\"
controlPlaneEndpoint: \"{endpoint}\"
apiServer:
  certSANs: [localhost, \"127.0.0.1\"]
{api_args}controllerManager:
{cm_args}{scheduler}networking:
  podSubnet: \"{pods}\"
  serviceSubnet: \"{services}\"
---
apiVersion: {av}
kind: InitConfiguration
bootstrapTokens:
  - token: \"{token}\"
localAPIEndpoint:
  advertiseAddress: \"{addr}\"
  bindPort: {port}
nodeRegistration:
  name: \"{node}\"
  criSocket: \"unix:///run/containerd/containerd.sock\"
{kubelet_args}# kind pre-loads the images; preflight would pull them and fails on many hosts.
skipPhases:
  - \"preflight\"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: {cgroup}
cgroupRoot: /kubelet
failSwapOn: false
{fail_cgroup_v1}# The node shares the host's disk: don't garbage-collect images or evict pods over it.
imageGCHighThresholdPercent: 100
evictionHard:
  nodefs.available: \"0%\"
  nodefs.inodesFree: \"0%\"
  imagefs.available: \"0%\"
{gates_map}---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: \"iptables\"
{gates_map}iptables:
  minSyncPeriod: 1s
conntrack:
  # Don't touch the host's conntrack settings from inside a container.
  maxPerCore: 0
{rootless_conntrack}",
        version = p.kubernetes_version,
        cluster = p.cluster_name,
        api_args = extra_args(api, "extraArgs", "  ", &with_gates(&[("runtime-config", "")])),
        cm_args = extra_args(
            api,
            "extraArgs",
            "  ",
            &with_gates(&[("enable-hostpath-provisioner", "true")])
        ),
        scheduler = if gates.is_empty() {
            "scheduler: {}\n".to_string()
        } else {
            format!("scheduler:\n{}", extra_args(api, "extraArgs", "  ", &with_gates(&[])))
        },
        pods = p.pod_subnet,
        services = p.service_subnet,
        token = p.token,
        addr = p.node_address,
        port = p.api_bind_port,
        node = p.node_name,
        kubelet_args = extra_args(
            api,
            "kubeletExtraArgs",
            "  ",
            &[
                ("node-ip".to_string(), p.node_address.clone()),
                ("provider-id".to_string(), provider_id.clone()),
                ("node-labels".to_string(), String::new()),
            ]
        ),
        cgroup = p.cgroup_driver,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> KubeadmParams {
        KubeadmParams::single_node(
            crate::cluster::CLUSTER_NAME,
            "v1.36.1",
            "172.18.0.2",
            "systemd",
        )
    }

    fn docs(text: &str) -> Vec<serde_json::Value> {
        serde_saphyr::from_multiple(text).expect("valid YAML")
    }

    #[test]
    fn api_version_follows_the_kubernetes_version() {
        assert_eq!(
            KubeadmApi::for_version("v1.36.1"),
            Some(KubeadmApi::V1Beta4)
        );
        assert_eq!(
            KubeadmApi::for_version("1.37.0-rc.1"),
            Some(KubeadmApi::V1Beta4)
        );
        assert_eq!(
            KubeadmApi::for_version("v1.35.4"),
            Some(KubeadmApi::V1Beta3)
        );
        assert_eq!(
            KubeadmApi::for_version("v1.30.0"),
            Some(KubeadmApi::V1Beta3)
        );
        assert_eq!(KubeadmApi::for_version("latest"), None);
    }

    #[test]
    fn v1beta4_uses_name_value_lists() {
        let d = docs(&render(&params(), KubeadmApi::V1Beta4));
        assert_eq!(d.len(), 4);
        assert_eq!(d[0]["apiVersion"], "kubeadm.k8s.io/v1beta4");
        assert_eq!(d[0]["kind"], "ClusterConfiguration");
        assert_eq!(d[0]["kubernetesVersion"], "v1.36.1");
        assert_eq!(d[0]["controlPlaneEndpoint"], "onyx-control-plane:6443");
        assert_eq!(
            d[0]["apiServer"]["certSANs"],
            serde_json::json!(["localhost", "127.0.0.1"])
        );
        assert_eq!(d[0]["networking"]["podSubnet"], "10.244.0.0/16");
        assert_eq!(d[0]["networking"]["serviceSubnet"], "10.96.0.0/16");
        assert_eq!(
            d[0]["controllerManager"]["extraArgs"][0],
            serde_json::json!({"name": "enable-hostpath-provisioner", "value": "true"})
        );
        assert_eq!(d[1]["kind"], "InitConfiguration");
        assert_eq!(d[1]["localAPIEndpoint"]["advertiseAddress"], "172.18.0.2");
        assert_eq!(d[1]["localAPIEndpoint"]["bindPort"], 6443);
        let kubelet = &d[1]["nodeRegistration"]["kubeletExtraArgs"];
        assert_eq!(
            kubelet[0],
            serde_json::json!({"name": "node-ip", "value": "172.18.0.2"})
        );
        assert_eq!(kubelet[1]["value"], "kind://docker/onyx/onyx-control-plane");
        assert_eq!(d[2]["kind"], "KubeletConfiguration");
        assert_eq!(d[2]["cgroupDriver"], "systemd");
        assert_eq!(d[2]["imageGCHighThresholdPercent"], 100);
        assert_eq!(d[3]["kind"], "KubeProxyConfiguration");
    }

    #[test]
    fn v1beta3_uses_maps() {
        let mut p = params();
        p.kubernetes_version = "v1.35.0".into();
        p.cgroup_driver = "cgroupfs".into();
        let d = docs(&render(&p, KubeadmApi::V1Beta3));
        assert_eq!(d[0]["apiVersion"], "kubeadm.k8s.io/v1beta3");
        assert_eq!(d[1]["apiVersion"], "kubeadm.k8s.io/v1beta3");
        assert_eq!(
            d[0]["controllerManager"]["extraArgs"]["enable-hostpath-provisioner"],
            "true"
        );
        assert_eq!(
            d[1]["nodeRegistration"]["kubeletExtraArgs"]["node-ip"],
            "172.18.0.2"
        );
        assert_eq!(d[2]["cgroupDriver"], "cgroupfs");
    }

    // ---- host variants, each against kind v0.32.0 pkg/cluster/internal/kubeadm/config.go ----

    fn host(cgroup: &str) -> crate::cluster::host::NodeHost {
        crate::cluster::host::NodeHost {
            cgroup_version: cgroup.into(),
            ..Default::default()
        }
    }

    #[test]
    fn preflight_is_skipped_in_the_config_and_on_the_command_line_only_below_1_23() {
        // config.go Derive: InitSkipPhases = ["preflight"], templated into InitConfiguration
        // for v1beta3 and v1beta4; kubeadminit/init.go adds --skip-phases only below 1.23.
        for (version, api) in [
            ("v1.36.1", KubeadmApi::V1Beta4),
            ("v1.35.2", KubeadmApi::V1Beta3),
        ] {
            let mut p = params();
            p.kubernetes_version = version.into();
            let d = docs(&render(&p, api));
            assert_eq!(d[1]["kind"], "InitConfiguration");
            assert_eq!(d[1]["skipPhases"], serde_json::json!(["preflight"]));
            assert_eq!(
                init_args(version),
                [
                    "kubeadm",
                    "init",
                    "--config=/kind/kubeadm.conf",
                    "--skip-token-print",
                    "--v=6"
                ]
            );
        }
        assert_eq!(
            init_args("v1.22.17").last().map(String::as_str),
            Some("--skip-phases=preflight")
        );
    }

    #[test]
    fn no_document_carries_metadata() {
        // create/actions/config/config.go removeMetadata strips `metadata:\n  name: config\n`.
        for api in [KubeadmApi::V1Beta3, KubeadmApi::V1Beta4] {
            let text = render(&params(), api);
            assert!(!text.contains("metadata"), "{text}");
            assert!(docs(&text).iter().all(|d| d.get("metadata").is_none()));
        }
    }

    #[test]
    fn cgroup_v1_hosts_tell_the_kubelet_not_to_refuse_and_v2_hosts_leave_the_default() {
        // The kubelet's FailCgroupV1 defaults to true (kubernetes
        // staging/src/k8s.io/kubelet/config/v1beta1/types.go, "Default: true"); kind v0.32.0
        // sets nothing, onyx sets false where the engine reports cgroup v1.
        let v1 = docs(&render(&params().on_host(&host("1")), KubeadmApi::V1Beta4));
        assert_eq!(v1[2]["kind"], "KubeletConfiguration");
        assert_eq!(v1[2]["failCgroupV1"], false);
        let v2 = docs(&render(&params().on_host(&host("2")), KubeadmApi::V1Beta4));
        assert!(v2[2].get("failCgroupV1").is_none());
        // Neither changes anything else of kind's kubelet config.
        for d in [&v1, &v2] {
            assert_eq!(d[2]["cgroupDriver"], "systemd");
            assert_eq!(d[2]["cgroupRoot"], "/kubelet");
            assert_eq!(d[2]["failSwapOn"], false);
            assert!(d[2].get("featureGates").is_none());
        }
    }

    #[test]
    fn rootless_hosts_get_kubelet_in_user_namespace_and_no_conntrack_sysctls() {
        // config.go Config: RootlessProvider → FeatureGates["KubeletInUserNamespace"] = true,
        // passed to apiServer, controllerManager, scheduler (extraArgs "feature-gates"), the
        // KubeletConfiguration and KubeProxyConfiguration (featureGates); conntrack
        // tcpEstablishedTimeout / tcpCloseWaitTimeout 0s.
        let mut h = host("2");
        h.rootless = true;
        let v4 = docs(&render(&params().on_host(&h), KubeadmApi::V1Beta4));
        let gate =
            serde_json::json!({"name": "feature-gates", "value": "KubeletInUserNamespace=true"});
        assert_eq!(v4[0]["apiServer"]["extraArgs"][0], gate);
        assert_eq!(v4[0]["controllerManager"]["extraArgs"][0], gate);
        assert_eq!(v4[0]["scheduler"]["extraArgs"][0], gate);
        assert_eq!(v4[2]["featureGates"]["KubeletInUserNamespace"], true);
        assert_eq!(v4[3]["kind"], "KubeProxyConfiguration");
        assert_eq!(v4[3]["featureGates"]["KubeletInUserNamespace"], true);
        assert_eq!(v4[3]["conntrack"]["maxPerCore"], 0);
        assert_eq!(v4[3]["conntrack"]["tcpEstablishedTimeout"], "0s");
        assert_eq!(v4[3]["conntrack"]["tcpCloseWaitTimeout"], "0s");
        let v3 = docs(&render(&params().on_host(&h), KubeadmApi::V1Beta3));
        assert_eq!(
            v3[0]["scheduler"]["extraArgs"]["feature-gates"],
            "KubeletInUserNamespace=true"
        );
        // Rootful: none of it.
        let plain = docs(&render(&params().on_host(&host("2")), KubeadmApi::V1Beta4));
        assert!(plain[3]["conntrack"].get("tcpEstablishedTimeout").is_none());
        assert!(plain[3].get("featureGates").is_none());
        assert_eq!(plain[0]["scheduler"], serde_json::json!({}));
    }

    #[test]
    fn podman_nodes_get_podmans_provider_id() {
        // create/actions/config/config.go: NodeProvider is the provider's name.
        let mut h = host("2");
        h.podman = true;
        let d = docs(&render(&params().on_host(&h), KubeadmApi::V1Beta4));
        assert_eq!(
            d[1]["nodeRegistration"]["kubeletExtraArgs"][1]["value"],
            "kind://podman/onyx/onyx-control-plane"
        );
    }
}
