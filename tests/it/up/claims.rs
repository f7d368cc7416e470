//! Review #20 finding 1: an install made when MinIO's claim was 5Gi, upgraded to a version that
//! renders 30Gi. The API server refuses the changed claim on re-apply (the simulator follows it:
//! crates/k8s-sim/src/api/immutable.rs), so `up` keeps the claim's size and says how to grow it.
//! Also finding 4: what the deployed Onyx may reach out to (offline, telemetry) is kept the same way.

use super::*;
use kube::api::{Patch, PatchParams, PostParams};

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_keeps_an_existing_claims_size() {
    let e = env().await;
    let c = client(&e);
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({"metadata": {"name": NS}})).unwrap(),
    )
    .await
    .unwrap();
    // The claim as the earlier version applied it.
    let api: Api<PersistentVolumeClaim> = Api::namespaced(c, NS);
    let old = serde_json::json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "minio-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
    });
    api.patch(
        "minio-data",
        &PatchParams::apply("onyx").force(),
        &Patch::Apply(&old),
    )
    .await
    .unwrap();

    let size = || async {
        api.get("minio-data")
            .await
            .unwrap()
            .spec
            .unwrap()
            .resources
            .unwrap()
            .requests
            .unwrap()["storage"]
            .0
            .clone()
    };
    for _ in 0..2 {
        let r = up(&e, "90s").await;
        assert_eq!(r.code, Some(0), "{r:?}");
        assert!(
            r.stderr.contains(
                "PersistentVolumeClaim minio-data stays at 5Gi (this version asks 30Gi for new installs"
            ),
            "{r:?}"
        );
        assert!(
            r.stderr.contains(&format!(
                r#"kubectl -n {NS} patch pvc minio-data -p '{{"spec":{{"resources":{{"requests":{{"storage":"30Gi"}}}}}}}}'"#
            )),
            "{r:?}"
        );
        // The other claims (and Vespa's claim template) were made by this version: said once.
        assert_eq!(r.stderr.matches(" stays at ").count(), 1, "{r:?}");
        assert_eq!(size().await, "5Gi");
    }
}

/// Review #20 finding 4: an install made offline (`--hub-offline on`, as `--bundle` makes it) and
/// with `--onyx-telemetry on` keeps both on a plain re-run (recorded in ConfigMap
/// `onyx-indexing`): HF_HUB_OFFLINE stays on the Onyx containers and no pod template changes.
/// A flag changes them again.
#[tokio::test(flavor = "multi_thread")]
async fn a_plain_rerun_keeps_offline_and_telemetry() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;
    let e = env().await;
    let small = |extra: &[&'static str]| {
        let mut a = vec![
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--timeout",
            "90s",
        ];
        a.extend_from_slice(extra);
        a
    };
    let offline = || async {
        let d = Api::<Deployment>::namespaced(client(&e), NS)
            .get("api-server")
            .await
            .unwrap();
        let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
        c.env.iter().flatten().any(|v| v.name == "HF_HUB_OFFLINE")
    };
    let telemetry_disabled = || async {
        Api::<ConfigMap>::namespaced(client(&e), NS)
            .get("onyx-config")
            .await
            .unwrap()
            .data
            .unwrap()["DISABLE_TELEMETRY"]
            .clone()
    };
    let r = onyx(
        &e,
        &small(&["--hub-offline", "on", "--onyx-telemetry", "on"]),
    )
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(offline().await);
    assert_eq!(telemetry_disabled().await, "false");
    let before = workloads(&e).await;

    let r = onyx(&e, &small(&[])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(offline().await, "a plain re-run stays offline");
    assert_eq!(
        telemetry_disabled().await,
        "false",
        "and keeps telemetry on"
    );
    assert_eq!(workloads(&e).await, before, "no pod template changed");

    let r = onyx(
        &e,
        &small(&["--hub-offline", "off", "--onyx-telemetry", "off"]),
    )
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(!offline().await);
    assert_eq!(telemetry_disabled().await, "true");
    let r = onyx(&e, &small(&[])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(!offline().await, "off is kept too");
    assert_eq!(telemetry_disabled().await, "true");
}
