//! The core API through the real kube-rs client: discovery, server-side apply, versions, errors,
//! selectors and watches.

mod common;

use std::time::Duration;

use common::{eventually, rv, start, within};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope, verbs};
use serde_json::{Value, json};

fn cm(name: &str, labels: Value, data: Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": data,
    }))
    .unwrap()
}

async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    ct: &str,
    body: &str,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct)
        .body(body.as_bytes().to_vec())
        .unwrap();
    match client.request::<Value>(req).await {
        Ok(v) => (200, v),
        Err(kube::Error::Api(s)) => (s.code, serde_json::to_value(&s).unwrap()),
        Err(e) => panic!("unexpected client error: {e}"),
    }
}

#[tokio::test]
async fn discovery_lists_kinds_verbs_subresources_and_short_names() {
    let (_sim, client) = start().await;
    within(20, "discovery", async {
        let d = Discovery::new(client.clone()).run().await.unwrap();
        for (g, v, k, scope) in [
            ("", "v1", "Pod", Scope::Namespaced),
            ("", "v1", "Namespace", Scope::Cluster),
            ("", "v1", "Node", Scope::Cluster),
            ("", "v1", "Event", Scope::Namespaced),
            ("", "v1", "Endpoints", Scope::Namespaced),
            ("apps", "v1", "Deployment", Scope::Namespaced),
            ("apps", "v1", "StatefulSet", Scope::Namespaced),
            (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                Scope::Namespaced,
            ),
            ("policy", "v1", "PodDisruptionBudget", Scope::Namespaced),
            ("storage.k8s.io", "v1", "StorageClass", Scope::Cluster),
        ] {
            let (res, caps) = d
                .resolve_gvk(&GroupVersionKind::gvk(g, v, k))
                .unwrap_or_else(|| panic!("{k} discovered"));
            assert_eq!(caps.scope, scope, "{k} scope");
            for verb in [
                verbs::CREATE,
                verbs::GET,
                verbs::LIST,
                verbs::WATCH,
                verbs::PATCH,
                verbs::DELETE,
                verbs::UPDATE,
            ] {
                assert!(caps.supports_operation(verb), "{k} supports {verb}");
            }
            if k == "Deployment" || k == "StatefulSet" {
                let subs: Vec<&str> = caps
                    .subresources
                    .iter()
                    .map(|(r, _)| r.plural.as_str())
                    .collect();
                assert!(
                    subs.contains(&"status") && subs.contains(&"scale"),
                    "{k} subresources {subs:?}"
                );
            }
            if k == "Pod" {
                let subs: Vec<&str> = caps
                    .subresources
                    .iter()
                    .map(|(r, _)| r.plural.as_str())
                    .collect();
                for s in ["status", "log", "portforward", "exec"] {
                    assert!(subs.contains(&s), "pods/{s} in {subs:?}");
                }
            }
            assert_eq!(res.kind, k);
        }
        // kubectl's short names come from the raw APIResourceList.
        let (_, apps) = raw(&client, "GET", "/apis/apps/v1", "application/json", "").await;
        let deploy = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments")
            .unwrap();
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["singularName"], "deployment");
        let (_, version) = raw(&client, "GET", "/version", "application/json", "").await;
        assert_eq!(version["major"], "1");
        let v = client.apiserver_version().await.unwrap();
        assert_eq!(v.minor, "33");
    })
    .await;
}

#[tokio::test]
async fn server_side_apply_creates_then_merges_and_records_managers() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    within(20, "ssa", async {
        let first = cm("cfg", json!({"app": "onyx"}), json!({"a": "1", "b": "2"}));
        let created = api
            .patch(
                "cfg",
                &PatchParams::apply("onyx").force(),
                &Patch::Apply(&first),
            )
            .await
            .unwrap();
        let mf = created.metadata.managed_fields.clone().unwrap();
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0].manager.as_deref(), Some("onyx"));
        assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
        let fields = serde_json::to_value(&mf[0].fields_v1).unwrap();
        assert!(
            fields.to_string().contains("f:data") && fields.to_string().contains("f:a"),
            "{fields}"
        );
        assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());

        // Another writer adds a key with a merge patch (an Update by "editor").
        let edited = api
            .patch(
                "cfg",
                &PatchParams {
                    field_manager: Some("editor".into()),
                    ..Default::default()
                },
                &Patch::Merge(json!({"data": {"c": "3"}})),
            )
            .await
            .unwrap();
        assert!(rv(&edited.metadata) > rv(&created.metadata));

        // Applying again without `b`: `b` is pruned, `c` (editor's) stays, `a` changes.
        let second = cm("cfg", json!({"app": "onyx"}), json!({"a": "10"}));
        let merged = api
            .patch("cfg", &PatchParams::apply("onyx"), &Patch::Apply(&second))
            .await
            .unwrap();
        let data = merged.data.clone().unwrap();
        assert_eq!(data.get("a").map(String::as_str), Some("10"));
        assert_eq!(data.get("b"), None);
        assert_eq!(data.get("c").map(String::as_str), Some("3"));
        let managers: Vec<(String, String)> = merged
            .metadata
            .managed_fields
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| (e.manager.unwrap(), e.operation.unwrap()))
            .collect();
        assert!(
            managers.contains(&("onyx".into(), "Apply".into()))
                && managers.contains(&("editor".into(), "Update".into())),
            "{managers:?}"
        );
        assert!(rv(&merged.metadata) > rv(&edited.metadata));

        // The same apply again changes nothing: same resourceVersion.
        let again = api
            .patch("cfg", &PatchParams::apply("onyx"), &Patch::Apply(&second))
            .await
            .unwrap();
        assert_eq!(rv(&again.metadata), rv(&merged.metadata));

        // A different applier changing an owned field conflicts unless it forces.
        let theirs = cm("cfg", json!({}), json!({"a": "99"}));
        let err = api
            .patch("cfg", &PatchParams::apply("other"), &Patch::Apply(&theirs))
            .await
            .unwrap_err();
        match err {
            kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
            e => panic!("expected a conflict, got {e}"),
        }
        let forced = api
            .patch(
                "cfg",
                &PatchParams::apply("other").force(),
                &Patch::Apply(&theirs),
            )
            .await
            .unwrap();
        assert_eq!(
            forced.data.unwrap().get("a").map(String::as_str),
            Some("99")
        );

        // Apply needs a field manager; YAML bodies are accepted.
        let (code, status) = raw(
            &client,
            "PATCH",
            "/api/v1/namespaces/default/configmaps/y",
            "application/apply-patch+yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n",
        )
        .await;
        assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
        let (code, obj) = raw(
            &client,
            "PATCH",
            "/api/v1/namespaces/default/configmaps/y?fieldManager=yaml",
            "application/apply-patch+yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n",
        )
        .await;
        assert_eq!((code, obj["data"]["k"].as_str()), (200, Some("v")));
    })
    .await;
}

#[tokio::test]
async fn errors_are_status_objects_with_real_reasons() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    within(20, "errors", async {
        let c = cm("one", json!({}), json!({"k": "v"}));
        let created = api.create(&PostParams::default(), &c).await.unwrap();
        let status = |e: kube::Error| match e {
            kube::Error::Api(s) => (s.code, s.reason),
            other => panic!("expected a Status, got {other}"),
        };
        assert_eq!(
            status(api.create(&PostParams::default(), &c).await.unwrap_err()),
            (409, "AlreadyExists".into())
        );
        assert_eq!(
            status(api.get("missing").await.unwrap_err()),
            (404, "NotFound".into())
        );
        let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "no-such-namespace");
        assert_eq!(
            status(
                elsewhere
                    .create(&PostParams::default(), &c)
                    .await
                    .unwrap_err()
            ),
            (404, "NotFound".into())
        );
        assert_eq!(
            status(
                api.create(
                    &PostParams::default(),
                    &cm("Bad_Name", json!({}), json!({}))
                )
                .await
                .unwrap_err()
            ),
            (422, "Invalid".into())
        );
        // A replace with a stale resourceVersion is a conflict.
        let mut newer = created.clone();
        newer.data = Some([("k".to_string(), "w".to_string())].into());
        let replaced = api
            .replace("one", &PostParams::default(), &newer)
            .await
            .unwrap();
        assert!(rv(&replaced.metadata) > rv(&created.metadata));
        assert_eq!(
            status(
                api.replace("one", &PostParams::default(), &newer)
                    .await
                    .unwrap_err()
            ),
            (409, "Conflict".into())
        );
        // JSON patch works; a failing one is Invalid.
        let ops = r#"[{"op": "add", "path": "/data/j", "value": "x"}]"#;
        let (code, patched) = raw(
            &client,
            "PATCH",
            "/api/v1/namespaces/default/configmaps/one",
            "application/json-patch+json",
            ops,
        )
        .await;
        assert_eq!((code, patched["data"]["j"].as_str()), (200, Some("x")));
        let bad = r#"[{"op": "remove", "path": "/data/nope"}]"#;
        let (code, s) = raw(
            &client,
            "PATCH",
            "/api/v1/namespaces/default/configmaps/one",
            "application/json-patch+json",
            bad,
        )
        .await;
        assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")));
        // Bad requests get Status answers, never a dropped connection.
        let (code, s) = raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{not json",
        )
        .await;
        assert_eq!((code, s["reason"].as_str()), (400, Some("BadRequest")));
        let (code, _) = raw(
            &client,
            "PATCH",
            "/api/v1/namespaces/default/configmaps/one",
            "text/plain",
            "x",
        )
        .await;
        assert_eq!(code, 415);
        let (code, _) = raw(&client, "GET", "/api/v1/nothings", "application/json", "").await;
        assert_eq!(code, 404);
        let (code, _) = raw(
            &client,
            "GET",
            "/api/v1/namespaces/default/pods?labelSelector=a%20in%20b",
            "application/json",
            "",
        )
        .await;
        assert_eq!(code, 400);
        let (code, _) = raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s\"}}",
        )
        .await;
        assert_eq!(code, 400);
        // Delete, then it is gone.
        api.delete("one", &DeleteParams::default()).await.unwrap();
        assert_eq!(status(api.get("one").await.unwrap_err()).0, 404);
    })
    .await;
}

#[tokio::test]
async fn lists_filter_by_label_and_field_selectors() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    within(20, "selectors", async {
        for (n, app, tier) in [
            ("a", "web", "front"),
            ("b", "api", "back"),
            ("c", "web", "back"),
        ] {
            api.create(
                &PostParams::default(),
                &cm(n, json!({"app": app, "tier": tier}), json!({})),
            )
            .await
            .unwrap();
        }
        let names = |l: kube::core::ObjectList<ConfigMap>| {
            l.items
                .into_iter()
                .map(|c| c.metadata.name.unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(
                api.list(&ListParams::default().labels("app=web"))
                    .await
                    .unwrap()
            ),
            ["a", "c"]
        );
        assert_eq!(
            names(
                api.list(&ListParams::default().labels("app=web,tier!=front"))
                    .await
                    .unwrap()
            ),
            ["c"]
        );
        assert_eq!(
            names(
                api.list(&ListParams::default().labels("app in (api,web),tier=back"))
                    .await
                    .unwrap()
            ),
            ["b", "c"]
        );
        assert_eq!(
            names(
                api.list(&ListParams::default().labels("!app"))
                    .await
                    .unwrap()
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            names(
                api.list(&ListParams::default().fields("metadata.name=b"))
                    .await
                    .unwrap()
            ),
            ["b"]
        );
        let all = api.list(&ListParams::default()).await.unwrap();
        assert!(
            all.metadata
                .resource_version
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
        // All-namespaces lists span namespaces.
        let nss: Api<Namespace> = Api::all(client.clone());
        let ns_names = names_ns(nss.list(&ListParams::default()).await.unwrap());
        assert!(
            ns_names.contains(&"default".to_string())
                && ns_names.contains(&"kube-system".to_string())
        );
    })
    .await;
}

fn names_ns(l: kube::core::ObjectList<Namespace>) -> Vec<String> {
    l.items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect()
}

#[tokio::test]
async fn watch_delivers_changes_in_order_from_a_list_version() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    within(20, "watch", async {
        api.create(
            &PostParams::default(),
            &cm("before", json!({"w": "1"}), json!({})),
        )
        .await
        .unwrap();
        let list = api
            .list(&ListParams::default().labels("w=1"))
            .await
            .unwrap();
        let from = list.metadata.resource_version.unwrap();
        // Changes between the list and the watch call must not be lost.
        api.create(
            &PostParams::default(),
            &cm("x", json!({"w": "1"}), json!({"k": "1"})),
        )
        .await
        .unwrap();
        let mut stream = api
            .watch(&WatchParams::default().labels("w=1").timeout(10), &from)
            .await
            .unwrap()
            .boxed();
        api.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "2"}})),
        )
        .await
        .unwrap();
        api.create(
            &PostParams::default(),
            &cm("unrelated", json!({"w": "2"}), json!({})),
        )
        .await
        .unwrap();
        // Relabelling out of the selector is a DELETED for this watch.
        api.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"w": "3"}}})),
        )
        .await
        .unwrap();
        api.delete("before", &DeleteParams::default())
            .await
            .unwrap();
        // Bounded here too: the watch's own timeout is the simulator's to honour.
        let seen = within(20, "four watch events", async {
            let mut seen = Vec::new();
            let mut last = 0;
            while seen.len() < 4 {
                let ev = stream.try_next().await.unwrap().expect("stream open");
                let (kind, obj) = match ev {
                    WatchEvent::Added(o) => ("ADDED", o),
                    WatchEvent::Modified(o) => ("MODIFIED", o),
                    WatchEvent::Deleted(o) => ("DELETED", o),
                    WatchEvent::Bookmark(_) => continue,
                    WatchEvent::Error(e) => panic!("watch error {e:?}"),
                };
                let v = rv(&obj.metadata);
                assert!(v > last, "versions increase");
                last = v;
                seen.push((kind, obj.metadata.name.unwrap()));
            }
            seen
        })
        .await;
        assert_eq!(
            seen,
            [
                ("ADDED", "x".to_string()),
                ("MODIFIED", "x".into()),
                ("DELETED", "x".into()),
                ("DELETED", "before".into())
            ]
        );
    })
    .await;
    // A watch from "now" sends the current state first; timeoutSeconds ends the stream.
    within(10, "watch timeout", async {
        let started = std::time::Instant::now();
        let events: Vec<_> = api
            .watch(&WatchParams::default().timeout(1), "0")
            .await
            .unwrap()
            .collect()
            .await;
        assert!(events.iter().any(|e| matches!(e, Ok(WatchEvent::Added(_)))));
        assert!(started.elapsed() < Duration::from_secs(5));
    })
    .await;
    // A version older than the log is 410 Gone inside the stream (kube's watcher then re-lists).
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let names = eventually(5, "list", || async {
        pods.list(&ListParams::default()).await.ok()
    })
    .await;
    assert!(names.items.is_empty());
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_objects() {
    let (_sim, client) = start().await;
    within(20, "namespace delete", async {
        let nss: Api<Namespace> = Api::all(client.clone());
        nss.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "tmp"}})).unwrap(),
        )
        .await
        .unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "tmp");
        api.create(&PostParams::default(), &cm("k", json!({}), json!({})))
            .await
            .unwrap();
        nss.delete("tmp", &DeleteParams::default()).await.unwrap();
        assert!(api.get_opt("k").await.unwrap().is_none());
        assert!(nss.get_opt("tmp").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn dry_run_deletecollection_status_and_scale_subresources() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    within(20, "subresources", async {
        // dryRun answers without storing.
        let pp = PostParams { dry_run: true, ..Default::default() };
        api.create(&pp, &cm("dry", json!({}), json!({}))).await.unwrap();
        assert!(api.get_opt("dry").await.unwrap().is_none());

        // deletecollection with a selector.
        for (n, l) in [("k1", "x"), ("k2", "x"), ("k3", "y")] {
            api.create(&PostParams::default(), &cm(n, json!({"g": l}), json!({}))).await.unwrap();
        }
        api.delete_collection(&DeleteParams::default(), &ListParams::default().labels("g=x")).await.unwrap();
        let left: Vec<String> = api.list(&ListParams::default()).await.unwrap().items.into_iter().map(|c| c.metadata.name.unwrap()).collect();
        assert_eq!(left, ["k3"]);

        // The main endpoint ignores status; /status ignores everything else.
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}], "nodeName": "elsewhere"},
            "status": {"phase": "Succeeded"}}))
        .unwrap();
        let created = pods.create(&PostParams::default(), &pod).await.unwrap();
        assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"), "status from a create is the server's");
        let patched = pods
            .patch_status("p", &PatchParams::default(), &Patch::Merge(json!({"status": {"message": "set via status"}, "spec": {"activeDeadlineSeconds": 5}})))
            .await
            .unwrap();
        assert_eq!(patched.status.unwrap().message.as_deref(), Some("set via status"));
        assert_eq!(patched.spec.unwrap().active_deadline_seconds, None);
        let patched = pods
            .patch("p", &PatchParams::default(), &Patch::Merge(json!({"status": {"message": "ignored"}, "metadata": {"labels": {"l": "1"}}})))
            .await
            .unwrap();
        assert_eq!(patched.status.unwrap().message.as_deref(), Some("set via status"));
        assert_eq!(patched.metadata.labels.unwrap()["l"], "1");
    })
    .await;

    // The scale subresource of a Deployment.
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::default_namespaced(client.clone());
    within(20, "scale", async {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "s"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "s"}},
                "template": {"metadata": {"labels": {"app": "s"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        deploys.patch("s", &PatchParams::apply("t"), &Patch::Apply(d)).await.unwrap();
        let scale = deploys.get_scale("s").await.unwrap();
        assert_eq!(scale.spec.unwrap().replicas, Some(1));
        deploys.patch_scale("s", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}}))).await.unwrap();
        assert_eq!(deploys.get("s").await.unwrap().spec.unwrap().replicas, Some(3));
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        eventually(10, "three pods", || async {
            (pods.list(&ListParams::default().labels("app=s")).await.ok()?.items.len() == 3).then_some(())
        })
        .await;
        let scale = deploys.get_scale("s").await.unwrap();
        assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=s"));
    })
    .await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents() {
    let (_sim, client) = start().await;
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::default_namespaced(client.clone());
    let rss: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::default_namespaced(client.clone());
    within(20, "orphan", async {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "o"},
            "spec": {"selector": {"matchLabels": {"app": "o"}},
                "template": {"metadata": {"labels": {"app": "o"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        deploys.patch("o", &PatchParams::apply("t"), &Patch::Apply(d)).await.unwrap();
        eventually(10, "replicaset", || async { rss.list(&ListParams::default().labels("app=o")).await.ok()?.items.into_iter().next() }).await;
        deploys.delete("o", &DeleteParams::orphan()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rs = rss.list(&ListParams::default().labels("app=o")).await.unwrap().items;
        assert_eq!(rs.len(), 1, "the ReplicaSet survives");
        assert!(rs[0].metadata.owner_references.as_ref().is_none_or(|r| r.is_empty()));
    })
    .await;
}
