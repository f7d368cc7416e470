//! Vespa's contracts (Vespa v8.526.15, `vespa-engine/docker-image`): the memory its start
//! check demands and its JVM heaps need, its name as its own config server on any cluster domain,
//! the API's way to it, its volume and the user it runs as.

use super::*;

/// Vespa v8.526.15 `client/go/internal/admin/vespa-wrapper/services/container.go`
/// (`minRequiredMemoryInBytes = 3 * 1024 * 1024 * 1024`), run by the image's entrypoint
/// (`vespa-engine/docker-image` `include/start-container.sh`: `verify_container_env`): it exits
/// when min(cgroup limit, MemAvailable) is under 3 GiB. The limit clears it, at the 4 GiB its own
/// message names.
#[test]
fn vespa_memory_limit_passes_vespas_start_check() {
    for s in every_stack() {
        let limit = memory_limit_mib(s.main("vespa"));
        assert!(limit >= 4 * GIB_MIB, "{}: Vespa limit {limit}Mi", s.label);
    }
}

/// Same file: any non-empty VESPA_IGNORE_NOT_ENOUGH_MEMORY disables the check, so a restart on a
/// busy node (MemAvailable low, the limit fine) doesn't exit.
#[test]
fn vespa_ignores_memavailable_at_restart() {
    for s in every_stack() {
        let v = env_value(s.main("vespa"), "VESPA_IGNORE_NOT_ENOUGH_MEMORY");
        assert_eq!(v.as_deref(), Some("true"), "{}", s.label);
    }
}

/// The heaps Vespa's JVMs take in one container, from v8.526.15: the query container 1536 MiB
/// (`container-search/src/main/resources/configdefinitions/search.config.qr-start.def`,
/// `config-model/.../container/ApplicationContainerCluster.java` for a self-hosted app, which Onyx's
/// `backend/onyx/document_index/vespa/app_config/services.xml.jinja` is) plus direct memory
/// 75 + heap/8 (`client/go/internal/admin/jvm/application_container.go`); the config server's
/// -Xmx from VESPA_CONFIGSERVER_JVMARGS, else 2048 MiB (`vespa-wrapper/configserver/start.go`);
/// the config proxy's from VESPA_CONFIGPROXY_JVMARGS, else 128 MiB (`jvm/configproxy_jvm.go`);
/// cluster controller 128 MiB (`admin/clustercontroller/ClusterControllerContainerCluster.java`);
/// metrics proxy 256 MiB (`admin/metricsproxy/MetricsProxyContainer.java`). The limit holds them
/// all with room for proton and the C++ daemons, and the request holds at least the heaps.
#[test]
fn vespa_limit_holds_its_jvm_heaps() {
    for s in every_stack() {
        let c = s.main("vespa");
        let configserver = env_value(c, "VESPA_CONFIGSERVER_JVMARGS")
            .and_then(|a| xmx_mib(&a))
            .unwrap_or(2048);
        let configproxy = env_value(c, "VESPA_CONFIGPROXY_JVMARGS")
            .and_then(|a| xmx_mib(&a))
            .unwrap_or(128);
        let query = 1536 + 75 + 1536 / 8;
        let heaps = query + configserver + configproxy + 128 + 256;
        assert!(
            memory_limit_mib(c) >= heaps + 1024,
            "{}: limit {} for {heaps} MiB of heaps",
            s.label,
            memory_limit_mib(c)
        );
        assert!(memory_request_mib(c) >= heaps, "{}", s.label);
    }
}

/// Vespa v8.526.15 `client/go/internal/vespa/detect_hostname.go` (VESPA_HOSTNAME overrides
/// `hostname -f`) and `vespa-wrapper/configserver/check.go` (exits "this host [..] should not run
/// a config server" unless its name is in VESPA_CONFIGSERVERS): both are the same
/// namespace-relative name of pod 0 behind the StatefulSet's headless Service, so no cluster domain
/// is assumed.
#[test]
fn vespa_names_itself_as_its_config_server_on_any_cluster_domain() {
    for s in every_stack() {
        let Object::StatefulSet(sts) = &s.workload("vespa").object else {
            panic!("vespa is a StatefulSet")
        };
        let spec = sts.spec.as_ref().unwrap();
        let expected = format!(
            "{}-0.{}.$(POD_NAMESPACE).svc",
            sts.metadata.name.as_deref().unwrap(),
            spec.service_name.as_deref().unwrap()
        );
        let c = s.main("vespa");
        assert_eq!(env_value(c, "VESPA_HOSTNAME"), Some(expected.clone()));
        assert_eq!(env_value(c, "VESPA_CONFIGSERVERS"), Some(expected));
        // $(POD_NAMESPACE) expands only from a variable defined before it (Kubernetes rules).
        let names: Vec<&str> = c.env.iter().flatten().map(|e| e.name.as_str()).collect();
        let ns = names.iter().position(|n| *n == "POD_NAMESPACE").unwrap();
        assert!(ns < names.iter().position(|n| *n == "VESPA_HOSTNAME").unwrap());
        let field = env(c, "POD_NAMESPACE")
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        assert_eq!(field, Some("metadata.namespace"), "{}", s.label);
    }
}

/// The API reaches Vespa at pod 0's stable name; 8081 only answers after the API deployed the
/// application package (Onyx v2.3.0 `backend/onyx/setup.py`), so the wait uses 19071.
#[test]
fn the_api_reaches_vespa_by_its_stable_name_on_the_config_port() {
    for s in every_stack() {
        assert_eq!(s.config("VESPA_HOST"), "vespa-0.vespa-service");
        assert_eq!(s.config("VESPA_TENANT_PORT"), "19071");
        let wait = command(s.init("api-server", "wait-for-dependencies"));
        assert!(wait.contains("VESPA_TENANT_PORT") && !wait.contains("8081"));
    }
}

/// Kubernetes' fsGroupChangePolicy: a restart does not re-chown a large index when the volume
/// root already matches.
#[test]
fn vespa_volume_is_not_rechowned_on_every_restart() {
    for s in every_stack() {
        let psc = s.pod("vespa").security_context.as_ref().unwrap();
        assert_eq!(
            psc.fs_group_change_policy.as_deref(),
            Some("OnRootMismatch")
        );
        assert_eq!(psc.fs_group, Some(1000), "{}", s.label);
    }
}

/// Vespa's image: user vespa is uid/gid 1000 (`vespa-engine/docker-image` Dockerfile
/// `useradd -u 1000`), data under /opt/vespa/var, health on 19071 `/state/v1/health`.
#[test]
fn vespa_runs_as_its_user_with_data_and_health_where_the_image_has_them() {
    for s in every_stack() {
        let psc = s.pod("vespa").security_context.as_ref().unwrap();
        assert_eq!(
            (psc.run_as_user, psc.run_as_group),
            (Some(1000), Some(1000))
        );
        let c = s.main("vespa");
        assert!(mount(c, "/opt/vespa/var").is_some(), "{}", s.label);
        let probe = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(probe.path.as_deref(), Some("/state/v1/health"));
        let port = c
            .ports
            .iter()
            .flatten()
            .find(|p| p.container_port == 19071)
            .expect("19071");
        assert_eq!(
            probe.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                port.name.clone().unwrap()
            )
        );
        assert_eq!(
            env_value(c, "VESPA_SKIP_UPGRADE_CHECK").as_deref(),
            Some("true")
        );
    }
}
