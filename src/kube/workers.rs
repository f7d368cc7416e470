//! The indexing services in a cluster: the choice kept there ([`kept_indexing`]), removing the
//! services a new choice no longer runs ([`prune`]), and which optional services an installed
//! stack has ([`installed_mode`]), so day-2 commands list and judge only what was deployed.
//!
//! The record is the `onyx-indexing` ConfigMap (embedded/manifests/02-indexing.yaml), rendered
//! with every install: `requested` holds the user's `--indexing on|off`, kept as the Secrets are.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service as KService};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Resource, ResourceExt};

use super::{KubeError, Target, retry};
use crate::stack::indexing::{self, Mode, Switch};
use crate::stack::render::{LABEL_NAME, LABEL_PART_OF, PART_OF};

const TRIES: u32 = 6;
/// The ConfigMap that records the choice.
pub const RECORD: &str = "onyx-indexing";

async fn record(target: &Target) -> Result<Option<ConfigMap>, KubeError> {
    if target.created_namespace {
        return Ok(None);
    }
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &target.namespace);
    retry(TRIES, || api.get_opt(RECORD))
        .await
        .map_err(|e| target.classify(&format!("read ConfigMap {RECORD}"), e))
}

fn field(cm: &ConfigMap, key: &str) -> Option<String> {
    cm.data.as_ref()?.get(key).cloned()
}

/// The user's earlier `--indexing on|off` in this namespace, if any.
pub async fn kept_indexing(target: &Target) -> Result<Option<Switch>, KubeError> {
    Ok(record(target)
        .await?
        .and_then(|cm| field(&cm, "requested"))
        .and_then(|v| Switch::parse(&v)))
}

/// The profile the install runs (recorded since onyx records it; `None` before, or in a new
/// namespace).
pub async fn kept_profile(
    target: &Target,
) -> Result<Option<crate::stack::profile::ProfileName>, KubeError> {
    use clap::ValueEnum;
    Ok(record(target)
        .await?
        .and_then(|cm| field(&cm, "profile"))
        .and_then(|v| crate::stack::profile::ProfileName::from_str(&v, false).ok()))
}

/// What the install's Onyx was deployed with (`None`: not recorded — an install from before the
/// record, or a new namespace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeptApp {
    pub telemetry: Option<bool>,
    pub hub_offline: Option<bool>,
}

/// The record's `telemetry` and `hub-offline` (on | off).
pub async fn kept_app(target: &Target) -> Result<KeptApp, KubeError> {
    let cm = record(target).await?;
    let switch = |key: &str| {
        cm.as_ref()
            .and_then(|cm| field(cm, key))
            .and_then(|v| Switch::parse(&v))
            .map(|s| s == Switch::On)
    };
    Ok(KeptApp {
        telemetry: switch("telemetry"),
        hub_offline: switch("hub-offline"),
    })
}

/// How the installed stack indexes: the record's mode, else (a stack from before the record, or
/// the record removed by hand) read from which workloads exist.
pub async fn installed_mode(target: &Target) -> Result<Mode, KubeError> {
    if let Some(mode) = record(target)
        .await?
        .and_then(|cm| field(&cm, "mode"))
        .and_then(|v| Mode::parse(&v))
    {
        return Ok(mode);
    }
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &target.namespace);
    let has = |name: &'static str| {
        let api = api.clone();
        async move {
            retry(TRIES, || api.get_opt(name))
                .await
                .map(|d| d.is_some())
                .map_err(|e| target.classify(&format!("read Deployment {name}"), e))
        }
    };
    Ok(
        match (
            has("background").await?,
            has("indexing-model-server").await?,
        ) {
            (false, _) => Mode::Off,
            (true, false) => Mode::Shared,
            (true, true) => Mode::Dedicated,
        },
    )
}

/// Delete the objects of every indexing service `mode` does not run (Deployments, Services,
/// NetworkPolicies, PodDisruptionBudgets carrying its name label). Returns how many went.
pub async fn prune(target: &Target, mode: Mode) -> Result<usize, KubeError> {
    if target.created_namespace {
        return Ok(0);
    }
    let mut n = 0;
    for s in indexing::SERVICES.iter().filter(|s| !mode.runs(s.name)) {
        let lp = ListParams::default().labels(&format!(
            "{LABEL_PART_OF}={PART_OF},{LABEL_NAME}={}",
            s.name
        ));
        let c = &target.client;
        let ns = &target.namespace;
        n += delete_matching::<Deployment>(target, Api::namespaced(c.clone(), ns), &lp).await?;
        n += delete_matching::<KService>(target, Api::namespaced(c.clone(), ns), &lp).await?;
        n += delete_matching::<NetworkPolicy>(target, Api::namespaced(c.clone(), ns), &lp).await?;
        n += delete_matching::<PodDisruptionBudget>(target, Api::namespaced(c.clone(), ns), &lp)
            .await?;
    }
    Ok(n)
}

async fn delete_matching<K>(
    target: &Target,
    api: Api<K>,
    lp: &ListParams,
) -> Result<usize, KubeError>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let kind = K::kind(&()).to_string();
    let items = retry(TRIES, || api.list_metadata(lp))
        .await
        .map_err(|e| target.classify(&format!("list {kind}s"), e))?;
    let mut n = 0;
    let dp = DeleteParams::background();
    for item in items {
        let name = item.name_any();
        match retry(TRIES, || api.delete(&name, &dp)).await {
            Ok(_) => n += 1,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(target.classify(&format!("delete {kind} {name}"), e)),
        }
    }
    Ok(n)
}
