//! Rendering: the embedded manifests (plain, namespace-free Kubernetes YAML) parsed into typed
//! objects, then patched for one install:
//!
//! 1. connection settings (the URL users open) and nginx.conf into their ConfigMaps;
//! 2. credentials into the Secrets (or the Secrets left out);
//! 3. the profile's requests/limits and in-app knobs onto every container;
//! 4. the security baseline (non-root, no privilege escalation, no capabilities, seccomp, no
//!    service account token);
//! 5. the common labels, replicas and, for `cluster`, disruption budgets and topology spread;
//! 6. the namespace, when one is given;
//! 7. the Onyx release and onyx's version ([`crate::stack::release::stamp`]);
//! 8. on every pod template, a checksum of the ConfigMaps and Secrets it reads
//!    ([`CONFIG_CHECKSUM`]), so that a changed `--url`, nginx.conf or credential rolls exactly
//!    the pods that read it (helm's `checksum/config`), and a re-render with the same inputs
//!    changes nothing.
//!
//! `onyx render` prints exactly this list, and deploying applies exactly this list, in layer order.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, PodSecurityContext, PodSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, TopologySpreadConstraint,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::stack::catalog::{self, Layer, MANIFESTS, NGINX_CONF};
use crate::stack::indexing::{self, Indexing};
use crate::stack::profile::{INIT_CONTAINER, Profile, ProfileName, Resources};
use crate::stack::secrets::Credentials;

pub use crate::stack::object::{Object, Rendered};

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_PART_OF: &str = "app.kubernetes.io/part-of";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const PART_OF: &str = "onyx";
pub const MANAGED_BY: &str = "onyx";

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderOptions<'a> {
    pub profile: &'static Profile,
    pub namespace: Option<&'a str>,
    /// The URL users open (Onyx's WEB_DOMAIN).
    pub web_url: String,
    /// `None`: leave the Secrets out.
    pub credentials: Option<&'a Credentials>,
    /// Expose the gateway as a NodePort on this port (onyx's own cluster maps the UI's host port
    /// to it); `None` keeps it ClusterIP, for your own ingress or a port-forward.
    pub gateway_node_port: Option<u16>,
    /// Whether the background workers (and an indexing model server) are part of the stack.
    pub indexing: Indexing,
    /// What the deployed Onyx itself may reach out to.
    pub app: AppOptions,
}

/// What the deployed Onyx may reach out to on its own (not onyx: onyx sends nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppOptions {
    /// Onyx's anonymous usage reports to telemetry.onyx.app (Onyx v2.3.0
    /// `backend/onyx/configs/app_configs.py` DISABLE_TELEMETRY): off unless chosen.
    pub telemetry: bool,
    /// `HF_HUB_OFFLINE=1` on the Onyx containers: for an offline install (images from a
    /// bundle), where the models baked into the images are all there is and any request to
    /// huggingface.co could only time out. Elsewhere it stays unset, so that the other
    /// self-hosted models Onyx's admin UI offers (the e5 family, other rerankers) download.
    pub hub_offline: bool,
}

/// The pod-template annotation holding the checksum of the ConfigMaps and Secrets it reads.
pub const CONFIG_CHECKSUM: &str = "checksum/config";

/// Parse every embedded manifest into typed objects (no patches).
pub fn embedded_objects() -> Vec<Rendered> {
    let mut out = Vec::new();
    for m in MANIFESTS {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(m.yaml)
            .unwrap_or_else(|e| panic!("embedded/manifests/{} is not YAML: {e}", m.file));
        let layer = m
            .service
            .map(|s| {
                catalog::service(s)
                    .expect("manifest names a known service")
                    .layer
            })
            .unwrap_or(Layer::Config);
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            let object = Object::from_value(doc)
                .unwrap_or_else(|e| panic!("embedded/manifests/{}: {e}", m.file));
            out.push(Rendered {
                layer,
                service: m.service,
                object,
            });
        }
    }
    out
}

/// Render the stack for one install. Pure: same options (and credentials) → same objects.
pub fn render(opts: &RenderOptions) -> Vec<Rendered> {
    let mut objects = render_unsized(opts);
    // PostgreSQL is sized for the profile with its workers whether indexing runs or not: turning
    // indexing on or off then never changes PostgreSQL's args, which would restart it under a
    // running API. An idle slot costs PostgreSQL little (its shared lock table and PGPROC).
    let worst = std::iter::once(opts.indexing.mode)
        .chain(
            crate::stack::indexing::modes_when_on(opts.profile.name)
                .iter()
                .copied(),
        )
        .map(|mode| {
            if mode == opts.indexing.mode {
                crate::stack::connections::worst_case(&objects)
            } else {
                let mut other = opts.clone();
                other.indexing.mode = mode;
                crate::stack::connections::worst_case(&render_unsized(&other))
            }
        })
        .max()
        .unwrap_or(0);
    size_postgres_connections(
        &mut objects,
        crate::stack::connections::max_connections_for(worst),
    );
    checksum_config(&mut objects);
    objects
}

/// Steps 1–7: everything but PostgreSQL's connection count and the config checksums, which are
/// computed over the result.
fn render_unsized(opts: &RenderOptions) -> Vec<Rendered> {
    let mut objects = embedded_objects();
    objects.retain(|r| r.service.is_none_or(|s| opts.indexing.mode.runs(s)));
    if opts.credentials.is_none() {
        objects.retain(|r| !matches!(r.object, Object::Secret(_)));
    }
    let cluster = opts.profile.name == ProfileName::Cluster;

    for r in &mut objects {
        match &mut r.object {
            Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some("onyx-config") => {
                let data = cm.data.get_or_insert_with(BTreeMap::new);
                data.insert("WEB_DOMAIN".into(), opts.web_url.clone());
                data.insert(
                    "DISABLE_TELEMETRY".into(),
                    (!opts.app.telemetry).to_string(),
                );
            }
            Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some("onyx-indexing") => {
                let data = cm.data.get_or_insert_with(BTreeMap::new);
                data.insert("mode".into(), opts.indexing.mode.as_str().into());
                let requested = opts.indexing.requested.map(|s| s.as_str()).unwrap_or("");
                data.insert("requested".into(), requested.into());
                // The profile the install runs: a plain re-run keeps it (deploy/apply.rs).
                data.insert("profile".into(), opts.profile.name.as_str().into());
                // What the deployed Onyx may reach out to: a plain re-run keeps it too.
                let switch = |on: bool| if on { "on" } else { "off" };
                data.insert("telemetry".into(), switch(opts.app.telemetry).into());
                data.insert("hub-offline".into(), switch(opts.app.hub_offline).into());
            }
            Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some("onyx-nginx") => {
                let data = cm.data.get_or_insert_with(BTreeMap::new);
                data.insert("nginx.conf".into(), NGINX_CONF.to_string());
            }
            Object::Service(svc) if svc.metadata.name.as_deref() == Some("nginx") => {
                if let Some(port) = opts.gateway_node_port {
                    let spec = svc.spec.as_mut().expect("the nginx Service has a spec");
                    spec.type_ = Some("NodePort".into());
                    for p in spec.ports.iter_mut().flatten() {
                        p.node_port = Some(port.into());
                    }
                }
            }
            Object::Secret(secret) => {
                let creds = opts
                    .credentials
                    .expect("Secrets without credentials were removed");
                let name = secret.metadata.name.clone().unwrap_or_default();
                let data = secret.data.get_or_insert_with(BTreeMap::new);
                for (key, value) in data.iter_mut() {
                    *value = ByteString(creds.get(&name, key).as_bytes().to_vec());
                }
            }
            _ => {}
        }
        label(r);
        if let Some(service) = r.service {
            patch_workload(&mut r.object, service, opts.profile);
        }
        if let (Some(host), Some(t)) = (
            opts.indexing.mode.indexing_model_server_host(),
            r.object.pod_template_mut(),
        ) {
            for c in t.spec.iter_mut().flat_map(|s| {
                s.init_containers
                    .iter_mut()
                    .flatten()
                    .chain(s.containers.iter_mut())
            }) {
                if c.env
                    .iter()
                    .flatten()
                    .any(|e| e.name == "INDEXING_MODEL_SERVER_HOST")
                {
                    set_env(c, "INDEXING_MODEL_SERVER_HOST", host);
                }
            }
        }
        // The release's schema head, for the workers' wait (a fact of the release, not read
        // from the image at run time: see release::ALEMBIC_HEADS).
        if let Some(t) = r.object.pod_template_mut() {
            for c in t
                .spec
                .iter_mut()
                .flat_map(|s| s.init_containers.iter_mut().flatten())
            {
                if c.env
                    .iter()
                    .flatten()
                    .any(|e| e.name == "RELEASE_ALEMBIC_HEADS")
                {
                    set_env(
                        c,
                        "RELEASE_ALEMBIC_HEADS",
                        &crate::stack::release::ALEMBIC_HEADS.join(" "),
                    );
                }
            }
        }
    }

    if !opts.app.hub_offline {
        for t in objects
            .iter_mut()
            .filter_map(|r| r.object.pod_template_mut())
        {
            for c in t.spec.iter_mut().flat_map(|s| {
                s.init_containers
                    .iter_mut()
                    .flatten()
                    .chain(s.containers.iter_mut())
            }) {
                if let Some(env) = &mut c.env {
                    env.retain(|e| e.name != "HF_HUB_OFFLINE");
                }
            }
        }
    }

    if cluster {
        for s in catalog::all_services().filter(|s| s.stateless && opts.indexing.mode.runs(s.name))
        {
            objects.push(Rendered {
                layer: s.layer,
                service: Some(s.name),
                object: disruption_budget(s),
            });
        }
    }

    if let Some(ns) = opts.namespace {
        for r in &mut objects {
            r.object.metadata_mut().namespace = Some(ns.to_string());
        }
    }
    // Stable: within a layer the manifests' own order (config, then objects, then workloads).
    objects.sort_by_key(|r| r.layer);
    crate::stack::release::stamp(&mut objects);
    objects
}

/// PostgreSQL's `max_connections`: every pool the stack may open at once
/// ([`crate::stack::connections`]), with headroom, rounded up.
fn size_postgres_connections(objects: &mut [Rendered], max: u32) {
    for r in objects
        .iter_mut()
        .filter(|r| r.service == Some("postgresql"))
    {
        let Some(spec) = r.object.pod_template_mut().and_then(|t| t.spec.as_mut()) else {
            continue;
        };
        for c in spec
            .containers
            .iter_mut()
            .filter(|c| c.name == "postgresql")
        {
            for a in c.args.iter_mut().flatten() {
                if a.starts_with("max_connections=") {
                    *a = format!("max_connections={max}");
                }
            }
        }
    }
}

/// Step 8: annotate every pod template with a sha256 over the ConfigMaps and Secrets it reads
/// (by `envFrom`, `valueFrom` or a volume), each as its name and its data in key order. A pod
/// template whose inputs did not change keeps its annotation, so a re-render with the same
/// inputs (and the same kept Secrets) changes no template and `up` stays idempotent. Secrets
/// left out of the render (`--skip-secrets`) are not known here and count as absent.
fn checksum_config(objects: &mut [Rendered]) {
    use sha2::{Digest, Sha256};
    // (kind, name) → key → value, of every ConfigMap and Secret rendered.
    let mut sources: BTreeMap<(&'static str, String), BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for r in objects.iter() {
        let (kind, data): (&'static str, BTreeMap<String, Vec<u8>>) = match &r.object {
            Object::ConfigMap(cm) => (
                "ConfigMap",
                cm.data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
                    .collect(),
            ),
            Object::Secret(s) => (
                "Secret",
                s.data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect(),
            ),
            _ => continue,
        };
        sources.insert((kind, r.object.name().to_string()), data);
    }
    for r in objects.iter_mut() {
        let Some(t) = r.object.pod_template_mut() else {
            continue;
        };
        // What the template reads: a whole map (`envFrom`, a volume: key `None`) or one key of
        // it (`valueFrom`), so that PostgreSQL, which reads POSTGRES_DB of onyx-config, does not
        // roll for a new WEB_DOMAIN.
        let mut read: std::collections::BTreeSet<(&'static str, String, Option<String>)> =
            Default::default();
        if let Some(spec) = &t.spec {
            for c in spec
                .init_containers
                .iter()
                .flatten()
                .chain(spec.containers.iter())
            {
                for from in c.env_from.iter().flatten() {
                    if let Some(cm) = &from.config_map_ref {
                        read.insert(("ConfigMap", cm.name.clone(), None));
                    }
                    if let Some(s) = &from.secret_ref {
                        read.insert(("Secret", s.name.clone(), None));
                    }
                }
                for e in c.env.iter().flatten() {
                    let Some(v) = &e.value_from else { continue };
                    if let Some(k) = &v.config_map_key_ref {
                        read.insert(("ConfigMap", k.name.clone(), Some(k.key.clone())));
                    }
                    if let Some(k) = &v.secret_key_ref {
                        read.insert(("Secret", k.name.clone(), Some(k.key.clone())));
                    }
                }
            }
            for v in spec.volumes.iter().flatten() {
                if let Some(cm) = &v.config_map {
                    read.insert(("ConfigMap", cm.name.clone(), None));
                }
                if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
                    read.insert(("Secret", s, None));
                }
            }
        }
        if read.is_empty() {
            continue;
        }
        let mut h = Sha256::new();
        // Length-prefixed fields, so that no two different inputs hash the same bytes.
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        };
        for (kind, name, key) in &read {
            field(kind.as_bytes());
            field(name.as_bytes());
            let data = sources.get(&(*kind, name.clone()));
            let entries: Vec<(&String, &Vec<u8>)> = match key {
                None => data.into_iter().flatten().collect(),
                Some(k) => data.and_then(|d| d.get_key_value(k)).into_iter().collect(),
            };
            field(&(entries.len() as u64).to_be_bytes());
            for (k, v) in entries {
                field(k.as_bytes());
                field(v);
            }
        }
        let sum = hex::encode(h.finalize());
        t.metadata
            .get_or_insert_with(ObjectMeta::default)
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(CONFIG_CHECKSUM.into(), sum);
    }
}

fn common_labels(name: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), name.to_string()),
        (LABEL_PART_OF.to_string(), PART_OF.to_string()),
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (LABEL_COMPONENT.to_string(), component.to_string()),
    ])
}

/// The four app.kubernetes.io labels on the object, its pod template and its claim templates.
fn label(r: &mut Rendered) {
    let labels = match r.service.and_then(catalog::service) {
        Some(s) => common_labels(s.name, s.component),
        None => common_labels(r.object.name(), "config"),
    };
    let meta = r.object.metadata_mut();
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .extend(labels.clone());
    if let Some(t) = r.object.pod_template_mut() {
        let m = t.metadata.get_or_insert_with(ObjectMeta::default);
        m.labels
            .get_or_insert_with(BTreeMap::new)
            .extend(labels.clone());
    }
    if let Object::StatefulSet(s) = &mut r.object {
        for claim in s
            .spec
            .as_mut()
            .and_then(|s| s.volume_claim_templates.as_mut())
            .into_iter()
            .flatten()
        {
            claim
                .metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(labels.clone());
        }
    }
}

fn quantity(s: String) -> Quantity {
    Quantity(s)
}

fn requirements(r: Resources) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), quantity(format!("{}m", r.cpu_request_m))),
            (
                "memory".into(),
                quantity(format!("{}Mi", r.memory_request_mib)),
            ),
        ])),
        limits: Some(BTreeMap::from([
            ("cpu".into(), quantity(format!("{}m", r.cpu_limit_m))),
            (
                "memory".into(),
                quantity(format!("{}Mi", r.memory_limit_mib)),
            ),
        ])),
        ..Default::default()
    }
}

/// No privilege escalation, no capabilities; non-root is enforced at pod level.
fn harden(c: &mut Container) {
    let sc = c
        .security_context
        .get_or_insert_with(SecurityContext::default);
    sc.allow_privilege_escalation = Some(false);
    sc.privileged = Some(false);
    sc.capabilities = Some(Capabilities {
        drop: Some(vec!["ALL".into()]),
        add: None,
    });
}

fn set_env(c: &mut Container, name: &str, value: &str) {
    let env = c.env.get_or_insert_with(Vec::new);
    env.retain(|e| e.name != name);
    env.push(EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    });
}

fn patch_pod(spec: &mut PodSpec, service: &str, profile: &Profile) {
    let size = profile
        .size(service)
        .or_else(|| indexing::size(profile.name, service))
        .unwrap_or_else(|| panic!("profile {} has no size for {service}", profile.name));
    let psc = spec
        .security_context
        .get_or_insert_with(PodSecurityContext::default);
    psc.run_as_non_root = Some(true);
    psc.seccomp_profile = Some(SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    });
    // No pod of the stack talks to the Kubernetes API.
    spec.automount_service_account_token = Some(false);
    // No Docker-style service links: the kubelet would inject `<SERVICE>_PORT=tcp://IP:PORT` (and
    // `_SERVICE_HOST`, ...) for every Service of the namespace (kubernetes
    // pkg/kubelet/envvars/envvars.go FromServices/makeLinkVariables, kubelet_pods.go
    // getServiceEnvVarMap), and the Service `indexing-model-server` then gives
    // INDEXING_MODEL_SERVER_PORT=tcp://..., which Onyx v2.3.0 backend/shared_configs/configs.py
    // int()s at import (ValueError: the API and both model servers crash-loop). Every address the
    // stack uses is set explicitly (onyx-config); only the `kubernetes` Service's variables stay.
    spec.enable_service_links = Some(false);
    for c in spec.init_containers.iter_mut().flatten() {
        // The API's migrations load all of Onyx: they get the API's own size.
        let r = if FULL_SIZE_INIT_CONTAINERS.contains(&c.name.as_str()) {
            size.resources
        } else {
            INIT_CONTAINER
        };
        c.resources = Some(requirements(r));
        harden(c);
    }
    for c in &mut spec.containers {
        if c.name == service {
            c.resources = Some(requirements(size.resources));
            for (k, v) in size.env {
                set_env(c, k, v);
            }
        } else {
            c.resources = Some(requirements(INIT_CONTAINER));
        }
        harden(c);
    }
}

/// Init containers that run the service's own program (not a wait or a copy), sized like it.
pub const FULL_SIZE_INIT_CONTAINERS: &[&str] = &["migrate"];

fn patch_workload(object: &mut Object, service: &str, profile: &Profile) {
    let Some(template) = object.pod_template_mut() else {
        return;
    };
    let spec = template.spec.as_mut().expect("workload has a pod spec");
    patch_pod(spec, service, profile);

    let svc = catalog::service(service).expect("known service");
    let cluster = profile.name == ProfileName::Cluster;
    if cluster && svc.stateless {
        spec.topology_spread_constraints = Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (LABEL_NAME.to_string(), service.to_string()),
                    (LABEL_PART_OF.to_string(), PART_OF.to_string()),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        }]);
    }
    if svc.stateless {
        object.set_replicas(profile.stateless_replicas);
        if let Object::Deployment(d) = object {
            d.spec.as_mut().expect("spec").strategy = Some(if service == "api-server" {
                // No surge pod: a third API pod's pools (115 connections at Onyx's defaults)
                // would overrun PostgreSQL during every rollout (src/stack/connections.rs), and
                // its memory is in no profile. With two replicas one keeps serving; with one,
                // the old pod goes before the new one starts.
                DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(0)),
                        max_unavailable: Some(IntOrString::Int(1)),
                    }),
                }
            } else if cluster {
                // Rolling updates keep a replica serving.
                DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: None,
                }
            } else {
                return;
            });
        }
    }
}

fn disruption_budget(s: &catalog::Service) -> Object {
    Object::PodDisruptionBudget(PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(s.name.to_string()),
            labels: Some(common_labels(s.name, s.component)),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (LABEL_NAME.to_string(), s.name.to_string()),
                    (LABEL_PART_OF.to_string(), PART_OF.to_string()),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Multi-document YAML, one object per document, in apply order.
pub fn to_yaml(objects: &[Rendered]) -> String {
    let mut out = String::new();
    for r in objects {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&r.object).expect("typed objects always serialize"));
    }
    out
}

/// A `v1` `List` of the objects, in apply order.
pub fn to_json(objects: &[Rendered]) -> String {
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": objects.iter().map(|r| &r.object).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&list).expect("typed objects always serialize")
}
