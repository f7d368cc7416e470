//! Updates the real API server refuses on existing claims and StatefulSets (src/api/immutable.rs
//! cites the rules): the simulator answers them with the same code, reason and message, so a
//! client re-applying a changed claim size fails here as on a cluster.

mod common;

use common::{eventually, start, within};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

fn claim(name: &str, size: &str, class: Option<&str>) -> Value {
    let mut v = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    });
    if let Some(c) = class {
        v["spec"]["storageClassName"] = json!(c);
    }
    v
}

async fn apply<K>(api: &Api<K>, name: &str, v: &Value) -> Result<K, kube::core::Status>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api
        .patch(name, &PatchParams::apply("t").force(), &Patch::Apply(v))
        .await
    {
        Ok(o) => Ok(o),
        Err(kube::Error::Api(s)) => Err(*s),
        Err(e) => panic!("unexpected client error: {e}"),
    }
}

#[tokio::test]
async fn a_claims_spec_is_immutable_and_grows_only_with_an_expandable_class() {
    let (_sim, client) = start().await;
    within(30, "claim updates", async {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
        // Unbound (its class doesn't exist, so it stays Pending): no spec change at all.
        apply(&api, "pending", &claim("pending", "5Gi", Some("nope")))
            .await
            .unwrap();
        let e = apply(&api, "pending", &claim("pending", "30Gi", Some("nope")))
            .await
            .unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
        assert_eq!(
            e.message,
            "PersistentVolumeClaim \"pending\" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
        );
        // The same spec again is no change.
        apply(&api, "pending", &claim("pending", "5Gi", Some("nope")))
            .await
            .unwrap();

        // Bound, in the default class (`standard`, as kind's: no allowVolumeExpansion).
        apply(&api, "data", &claim("data", "5Gi", None)).await.unwrap();
        eventually(10, "bound", || async {
            let c = api.get("data").await.unwrap();
            (c.status?.phase.as_deref() == Some("Bound")).then_some(())
        })
        .await;
        let e = apply(&api, "data", &claim("data", "30Gi", None))
            .await
            .unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
        assert_eq!(
            e.message,
            "persistentvolumeclaims \"data\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
        );
        let e = apply(&api, "data", &claim("data", "1Gi", None))
            .await
            .unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
        assert!(
            e.message
                .ends_with("spec.resources.requests.storage: Forbidden: field can not be less than previous value"),
            "{e:?}"
        );
        // A class that allows expansion: the bound claim grows.
        let classes: Api<k8s_openapi::api::storage::v1::StorageClass> = Api::all(client.clone());
        let mut sc = serde_json::to_value(classes.get("standard").await.unwrap()).unwrap();
        sc["allowVolumeExpansion"] = json!(true);
        sc["metadata"]["managedFields"] = Value::Null;
        apply(&classes, "standard", &sc).await.unwrap();
        let grown = apply(&api, "data", &claim("data", "30Gi", None)).await.unwrap();
        assert_eq!(
            grown.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
            "30Gi"
        );
    })
    .await;
}

#[tokio::test]
async fn a_statefulsets_claim_templates_cannot_change() {
    let (_sim, client) = start().await;
    within(30, "statefulset updates", async {
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
        let sts = |replicas: i64, size: &str| {
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {
                    "replicas": replicas,
                    "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "db", "image": "db:1"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": size}}}}],
                },
            })
        };
        apply(&api, "db", &sts(1, "5Gi")).await.unwrap();
        // replicas may change.
        apply(&api, "db", &sts(2, "5Gi")).await.unwrap();
        let e = apply(&api, "db", &sts(2, "30Gi")).await.unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
        assert_eq!(
            e.message,
            "StatefulSet \"db\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        );
    })
    .await;
}
