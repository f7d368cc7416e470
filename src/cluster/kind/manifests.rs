//! The node image's CNI and storage manifests, changed as kind's installcni / installstorage
//! actions change them (and, for storage, with a stable path pattern).

use serde_json::{Value, json};

use super::STABLE_PATH_PATTERN;

fn yaml_docs(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("not valid YAML: {e}"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Documents back to one stream (JSON is YAML; kubectl reads both).
fn join_docs(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_json::to_string(d).expect("JSON values serialise"))
        .collect::<Vec<_>>()
        .join("\n---\n")
        + "\n"
}

/// The node's CNI manifest, as kind's installcni action makes it: the pod subnet templated in
/// when the file asks for it ("would you kindly template this file"), and the API server's
/// in-network address added to the DaemonSet when it asks for that ("… patch this file"), so
/// kindnet doesn't wait for kube-proxy. Other manifests pass through unchanged.
pub fn cni_manifest(
    raw: &str,
    pod_subnet: &str,
    control_plane_endpoint: &str,
) -> Result<String, String> {
    let mut manifest = raw.to_string();
    if manifest.contains("would you kindly template this file") {
        manifest = manifest
            .replace("{{ .PodSubnet }}", pod_subnet)
            .replace("{{.PodSubnet}}", pod_subnet);
        if manifest.contains("{{") {
            return Err("the CNI manifest has template fields onyx doesn't know".into());
        }
    }
    if manifest.contains("would you kindly patch this file") {
        let mut docs = yaml_docs(&manifest)?;
        for d in docs.iter_mut().filter(|d| d["kind"] == "DaemonSet") {
            let Some(container) = d
                .pointer_mut("/spec/template/spec/containers/0")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let env = container.entry("env").or_insert_with(|| json!([]));
            if let Some(list) = env.as_array_mut() {
                list.push(
                    json!({"name": "CONTROL_PLANE_ENDPOINT", "value": control_plane_endpoint}),
                );
            }
        }
        manifest = join_docs(&docs);
    }
    Ok(manifest)
}

/// The node's storage manifest with local-path's StorageClass told to name volume directories by
/// claim (`<namespace>/<name>`) instead of by the claim's UID: the node's storage root outlives the
/// node (the data volume), and a claim made again after `cluster delete` + `create` then finds its
/// old data.
pub fn storage_manifest(raw: &str) -> Result<String, String> {
    let mut docs = yaml_docs(raw)?;
    let mut found = false;
    for d in docs
        .iter_mut()
        .filter(|d| d["kind"] == "StorageClass" && d["provisioner"] == "rancher.io/local-path")
    {
        let obj = d.as_object_mut().expect("a StorageClass is a mapping");
        let params = obj.entry("parameters").or_insert_with(|| json!({}));
        if !params.is_object() {
            *params = json!({});
        }
        params["pathPattern"] = json!(STABLE_PATH_PATTERN);
        found = true;
    }
    if !found {
        return Err("the storage manifest has no local-path StorageClass".into());
    }
    Ok(join_docs(&docs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KINDNET: &str = "# kindnetd networking manifest
# would you kindly template this file
# would you kindly patch this file
---
kind: ServiceAccount
apiVersion: v1
metadata:
  name: kindnet
  namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kindnet
  namespace: kube-system
spec:
  template:
    spec:
      containers:
      - name: kindnet-cni
        image: docker.io/kindest/kindnetd:v20260820-69b56db7
        env:
        - name: POD_SUBNET
          value: {{ .PodSubnet }}
---
";

    #[test]
    fn cni_is_templated_and_patched_as_kind_does() {
        let out = cni_manifest(KINDNET, "10.244.0.0/16", "c-control-plane:6443").unwrap();
        let docs = yaml_docs(&out).unwrap();
        assert_eq!(docs.len(), 2);
        let env = &docs[1]["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(
            env[0],
            json!({"name": "POD_SUBNET", "value": "10.244.0.0/16"})
        );
        assert_eq!(
            env[1],
            json!({"name": "CONTROL_PLANE_ENDPOINT", "value": "c-control-plane:6443"})
        );
        // A manifest that asks for neither is passed through byte for byte.
        let plain = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";
        assert_eq!(cni_manifest(plain, "a", "b").unwrap(), plain);
        // An unknown template field is refused rather than sent half-filled.
        assert!(
            cni_manifest(
                "# would you kindly template this file\nx: {{ .Other }}\n",
                "a",
                "b"
            )
            .is_err()
        );
    }

    #[test]
    fn storage_class_gets_a_stable_path_pattern() {
        let raw = "apiVersion: v1
kind: Namespace
metadata:
  name: local-path-storage
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: \"true\"
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: local-path-config
  namespace: local-path-storage
data:
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p \"$VOL_DIR\"
";
        let out = storage_manifest(raw).unwrap();
        let docs = yaml_docs(&out).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(
            docs[1]["parameters"]["pathPattern"],
            "{{ .PVC.Namespace }}/{{ .PVC.Name }}/"
        );
        assert_eq!(docs[1]["reclaimPolicy"], "Delete");
        assert_eq!(
            docs[2]["data"]["setup"],
            "#!/bin/sh\nset -eu\nmkdir -m 0777 -p \"$VOL_DIR\""
        );
        assert!(storage_manifest("kind: Namespace\n").is_err());
        assert!(storage_manifest("a: [").is_err());
    }
}
