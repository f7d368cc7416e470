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
