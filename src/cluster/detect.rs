//! Which cluster a command works on, read from the kubeconfig: the context chosen (`--context`,
//! else the kubeconfig's current one), what kind of cluster it is (Docker Desktop, OrbStack, kind,
//! k3d, minikube, Rancher Desktop, colima, EKS, GKE, AKS, OpenShift, or another), and the local
//! clusters a user could pick instead of onyx's own.
//!
//! Pure: it reads a parsed kubeconfig; loading the file and talking to the API is `kube`'s work.

use kube::config::Kubeconfig;

/// What a context points at, as far as its names and server tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterKind {
    /// onyx's own cluster (context `kind-onyx`).
    Onyx,
    DockerDesktop,
    OrbStack,
    RancherDesktop,
    Colima,
    Kind,
    K3d,
    Minikube,
    Eks,
    Gke,
    Aks,
    OpenShift,
    /// Anything else: a cluster onyx knows nothing particular about.
    Other,
}

impl ClusterKind {
    /// Runs on this machine (its nodes see the host's Docker images or a local registry).
    pub fn is_local(self) -> bool {
        matches!(
            self,
            ClusterKind::Onyx
                | ClusterKind::DockerDesktop
                | ClusterKind::OrbStack
                | ClusterKind::RancherDesktop
                | ClusterKind::Colima
                | ClusterKind::Kind
                | ClusterKind::K3d
                | ClusterKind::Minikube
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            ClusterKind::Onyx => "onyx's own cluster",
            ClusterKind::DockerDesktop => "Docker Desktop",
            ClusterKind::OrbStack => "OrbStack",
            ClusterKind::RancherDesktop => "Rancher Desktop",
            ClusterKind::Colima => "colima",
            ClusterKind::Kind => "kind",
            ClusterKind::K3d => "k3d",
            ClusterKind::Minikube => "minikube",
            ClusterKind::Eks => "Amazon EKS",
            ClusterKind::Gke => "Google GKE",
            ClusterKind::Aks => "Azure AKS",
            ClusterKind::OpenShift => "OpenShift",
            ClusterKind::Other => "a cluster",
        }
    }
}

/// A context of the kubeconfig with what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextInfo {
    pub name: String,
    pub server: String,
    pub kind: ClusterKind,
}

/// Recognise a cluster by its context name and server address, the way the tools name them:
/// `docker-desktop`, `orbstack`, `rancher-desktop`, `colima`, `kind-<name>`, `k3d-<name>`,
/// `minikube`, EKS's ARN or `*.eks.amazonaws.com`, `gke_<project>_<zone>_<name>`, AKS's
/// `*.azmk8s.io`, OpenShift's `api.<cluster>.<domain>:6443`.
pub fn kind_of(context: &str, server: &str) -> ClusterKind {
    let host = server
        .split("://")
        .nth(1)
        .unwrap_or(server)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match context {
        c if c == super::CONTEXT_NAME => ClusterKind::Onyx,
        "docker-desktop" | "docker-for-desktop" => ClusterKind::DockerDesktop,
        "orbstack" => ClusterKind::OrbStack,
        "rancher-desktop" => ClusterKind::RancherDesktop,
        c if c == "colima" || c.starts_with("colima-") => ClusterKind::Colima,
        c if c.starts_with("kind-") => ClusterKind::Kind,
        c if c.starts_with("k3d-") => ClusterKind::K3d,
        "minikube" => ClusterKind::Minikube,
        c if c.starts_with("arn:aws:eks:") => ClusterKind::Eks,
        c if c.starts_with("gke_") => ClusterKind::Gke,
        _ if host.ends_with(".eks.amazonaws.com") => ClusterKind::Eks,
        _ if host.ends_with(".azmk8s.io") => ClusterKind::Aks,
        _ if host.starts_with("api.") && server.ends_with(":6443") => ClusterKind::OpenShift,
        _ => ClusterKind::Other,
    }
}

/// Every context of the kubeconfig, with its server and kind.
pub fn contexts(kubeconfig: &Kubeconfig) -> Vec<ContextInfo> {
    kubeconfig
        .contexts
        .iter()
        .map(|c| {
            let cluster = c.context.as_ref().map(|x| x.cluster.as_str()).unwrap_or("");
            let server = kubeconfig
                .clusters
                .iter()
                .find(|k| k.name == cluster)
                .and_then(|k| k.cluster.as_ref())
                .and_then(|k| k.server.clone())
                .unwrap_or_default();
            ContextInfo {
                kind: kind_of(&c.name, &server),
                name: c.name.clone(),
                server,
            }
        })
        .collect()
}

/// The context a command uses: the one asked for, else the kubeconfig's current one; an unknown
/// name is an error that lists the contexts there are.
pub fn choose_context(kubeconfig: &Kubeconfig, wanted: Option<&str>) -> Result<String, String> {
    let context = wanted
        .map(str::to_string)
        .or_else(|| kubeconfig.current_context.clone())
        .ok_or_else(|| "it names no current context".to_string())?;
    if kubeconfig.contexts.iter().any(|c| c.name == context) {
        return Ok(context);
    }
    let known: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    Err(format!(
        "it has no context {context:?} (it has: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

/// Local clusters other than onyx's own that `onyx up --context NAME` could use instead.
pub fn local_alternatives(kubeconfig: &Kubeconfig) -> Vec<ContextInfo> {
    contexts(kubeconfig)
        .into_iter()
        .filter(|c| c.kind.is_local() && c.kind != ClusterKind::Onyx)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_recognised_by_their_tools_names() {
        let cases = [
            ("kind-onyx", "https://127.0.0.1:41234", ClusterKind::Onyx),
            (
                "docker-desktop",
                "https://kubernetes.docker.internal:6443",
                ClusterKind::DockerDesktop,
            ),
            ("orbstack", "https://127.0.0.1:26443", ClusterKind::OrbStack),
            (
                "rancher-desktop",
                "https://127.0.0.1:6443",
                ClusterKind::RancherDesktop,
            ),
            ("colima", "https://127.0.0.1:6443", ClusterKind::Colima),
            ("kind-dev", "https://127.0.0.1:39999", ClusterKind::Kind),
            ("k3d-mycluster", "https://0.0.0.0:6550", ClusterKind::K3d),
            (
                "minikube",
                "https://192.168.49.2:8443",
                ClusterKind::Minikube,
            ),
            (
                "arn:aws:eks:eu-west-1:123:cluster/prod",
                "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
                ClusterKind::Eks,
            ),
            (
                "prod",
                "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
                ClusterKind::Eks,
            ),
            (
                "gke_proj_europe-west1_prod",
                "https://34.1.2.3",
                ClusterKind::Gke,
            ),
            (
                "aks",
                "https://prod-dns-1234.hcp.westeurope.azmk8s.io:443",
                ClusterKind::Aks,
            ),
            (
                "default/api-ocp-example-com:6443/admin",
                "https://api.ocp.example.com:6443",
                ClusterKind::OpenShift,
            ),
            ("work", "https://10.0.0.5:6443", ClusterKind::Other),
        ];
        for (context, server, want) in cases {
            assert_eq!(kind_of(context, server), want, "{context} at {server}");
        }
        assert!(ClusterKind::K3d.is_local() && !ClusterKind::Eks.is_local());
    }

    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: kind-onyx
  cluster: {server: 'https://127.0.0.1:41234'}
- name: docker-desktop
  cluster: {server: 'https://kubernetes.docker.internal:6443'}
- name: prod
  cluster: {server: 'https://ABC.eks.amazonaws.com'}
contexts:
- name: kind-onyx
  context: {cluster: kind-onyx, user: kind-onyx}
- name: docker-desktop
  context: {cluster: docker-desktop, user: docker-desktop}
- name: prod
  context: {cluster: prod, user: prod}
current-context: prod
users: []
";

    #[test]
    fn contexts_are_chosen_and_listed() {
        let kc = Kubeconfig::from_yaml(KUBECONFIG).unwrap();
        assert_eq!(choose_context(&kc, None).unwrap(), "prod");
        assert_eq!(
            choose_context(&kc, Some("docker-desktop")).unwrap(),
            "docker-desktop"
        );
        assert_eq!(
            choose_context(&kc, Some("nope")).unwrap_err(),
            "it has no context \"nope\" (it has: kind-onyx, docker-desktop, prod)"
        );
        let empty = Kubeconfig::default();
        assert_eq!(
            choose_context(&empty, None).unwrap_err(),
            "it names no current context"
        );
        let all = contexts(&kc);
        assert_eq!(all[2].kind, ClusterKind::Eks);
        assert_eq!(all[1].server, "https://kubernetes.docker.internal:6443");
        let local: Vec<String> = local_alternatives(&kc)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(local, ["docker-desktop"]);
    }
}
