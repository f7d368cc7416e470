//! Sizes from upstream's figures (Onyx v2.3.0's helm values and compose resources): no profile
//! gives a service less than upstream's smallest figure, the large profiles use upstream's.

use super::*;

/// Onyx v2.3.0 `deployment/helm/charts/onyx/values.yaml` (inferenceCapability 3Gi request, api
/// 1Gi/3Gi, webserver 1Gi limit) and `deployment/docker_compose/docker-compose.resources.yml`
/// (inference 5g, api 4g): no profile gives a service less than upstream's smallest figure for
/// it. The model server loads torch and the embedding model at the first query.
#[test]
fn no_service_gets_less_than_upstreams_smallest_figure() {
    for s in every_stack() {
        let model = s.main("inference-model-server");
        assert!(memory_limit_mib(model) >= 3 * GIB_MIB, "{}", s.label);
        let api = s.main("api-server");
        assert!(memory_request_mib(api) >= GIB_MIB && memory_limit_mib(api) >= 3 * GIB_MIB);
        assert!(
            memory_limit_mib(s.main("web-server")) >= GIB_MIB,
            "{}",
            s.label
        );
    }
}

/// The large and cluster profiles take helm's (values.yaml) and compose's
/// (docker-compose.resources.yml) figures as they are.
#[test]
fn large_profiles_use_upstreams_figures() {
    for s in every_stack()
        .into_iter()
        .filter(|s| matches!(s.profile, ProfileName::Large | ProfileName::Cluster))
    {
        let mem = |svc: &str| {
            let c = s.main(svc);
            (memory_request_mib(c), memory_limit_mib(c))
        };
        assert_eq!(mem("vespa"), (8000, 32000)); // helm vespa
        assert_eq!(mem("inference-model-server"), (3 * 1024, 10 * 1024)); // helm
        assert_eq!(mem("api-server"), (1024, 4 * 1024)); // helm request, compose 4g
        assert_eq!(mem("web-server"), (512, 1024)); // helm webserver
        assert_eq!(mem("redis"), (128, 512)); // helm redis
        assert_eq!(mem("postgresql").1, 4 * 1024); // compose relational_db 4g
        assert_eq!(mem("nginx").1, 1024); // compose nginx 1g
    }
}

/// The node's own pods take their requests first: kubeadm (`controlplane/manifests.go`
/// `ComponentResources`: apiserver 250m, controller-manager 200m, scheduler 100m;
/// `etcd/local.go`: 100m/100Mi; `addons/dns/manifests.go`: CoreDNS 2 × 100m/70Mi) and kind
/// v0.32.0 (`pkg/build/nodeimage/const_cni.go`: kindnet 100m/50Mi). onyx's fit check and the
/// simulator's scheduler hold the same list, and what the fit check accepts on a machine the
/// scheduler can place: the rendered requests (read back from the objects, not copied) plus the
/// node's own within the machine's CPUs. So large on its 6 CPUs indexes through the shared model
/// server (4500m + 950m) and not with a dedicated one (5500m + 950m > 6000m: the workers would
/// stay Pending).
#[test]
fn what_the_fit_check_accepts_the_scheduler_places_with_the_nodes_own_pods() {
    use onyx::stack::indexing::{self, Indexing, Mode};
    let ours: Vec<(&str, u32, u64, u64)> = profile::NODE_PODS
        .iter()
        .map(|p| {
            (
                p.name,
                p.replicas,
                p.cpu_request_m as u64,
                p.memory_request_mib as u64,
            )
        })
        .collect();
    assert_eq!(ours, k8s_sim::NODE_PODS.to_vec());
    assert_eq!(
        (profile::NODE_PODS_CPU_M, profile::NODE_PODS_MEMORY_MIB),
        (950, 290)
    );
    let creds = Credentials::generate();
    for p in profile::Profile::host_profiles() {
        for &mode in [Mode::Off]
            .iter()
            .chain(indexing::modes_when_on(p.name).iter())
        {
            let objects = render::render(&RenderOptions {
                profile: p,
                namespace: None,
                web_url: "http://localhost:3000".into(),
                credentials: Some(&creds),
                gateway_node_port: None,
                indexing: Indexing {
                    mode,
                    requested: None,
                },
                app: Default::default(),
            });
            let (_, t) = onyx::stack::summary::summarize(&objects);
            let ask = profile::ask(p, &indexing::extras(p.name, mode));
            assert_eq!(
                (t.cpu_request_m, t.memory_request_mib),
                (ask.cpu_m, ask.memory_mib),
                "{} {mode:?}: the fit check counts what is rendered",
                p.name
            );
            for cpus in p.min_cpus..=p.min_cpus + 2 {
                let machine = profile::Capacity::machine(128 << 30, cpus);
                let placed =
                    t.cpu_request_m + profile::NODE_PODS_CPU_M as u64 <= cpus as u64 * 1000;
                assert_eq!(
                    indexing::fits(p, mode, machine),
                    placed,
                    "{} {mode:?} on {cpus} CPUs",
                    p.name
                );
            }
        }
    }
    let on_six = |m| indexing::fits(&profile::LARGE, m, profile::Capacity::machine(64 << 30, 6));
    assert!(!on_six(Mode::Dedicated) && on_six(Mode::Shared));
}
