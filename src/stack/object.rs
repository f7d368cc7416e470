//! The typed Kubernetes objects the stack is made of ([`Object`]), each with the service and the
//! layer it belongs to ([`Rendered`]): what [`super::render`] produces and every later step
//! (release stamp, apply, summary) takes.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, PodTemplateSpec, Secret, Service,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::stack::catalog::Layer;

/// A Kubernetes object of one of the kinds the stack uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    ConfigMap(ConfigMap),
    Secret(Secret),
    NetworkPolicy(NetworkPolicy),
    PersistentVolumeClaim(PersistentVolumeClaim),
    Service(Service),
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    PodDisruptionBudget(PodDisruptionBudget),
}

impl Object {
    /// Parse one manifest document.
    pub fn from_value(value: serde_json::Value) -> Result<Object, String> {
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .ok_or("document has no kind")?
            .to_string();
        let r = match kind.as_str() {
            "ConfigMap" => serde_json::from_value(value).map(Object::ConfigMap),
            "Secret" => serde_json::from_value(value).map(Object::Secret),
            "NetworkPolicy" => serde_json::from_value(value).map(Object::NetworkPolicy),
            "PersistentVolumeClaim" => {
                serde_json::from_value(value).map(Object::PersistentVolumeClaim)
            }
            "Service" => serde_json::from_value(value).map(Object::Service),
            "Deployment" => serde_json::from_value(value).map(Object::Deployment),
            "StatefulSet" => serde_json::from_value(value).map(Object::StatefulSet),
            "PodDisruptionBudget" => serde_json::from_value(value).map(Object::PodDisruptionBudget),
            other => return Err(format!("kind {other} is not one the stack uses")),
        };
        r.map_err(|e| format!("{kind}: {e}"))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Object::ConfigMap(_) => "ConfigMap",
            Object::Secret(_) => "Secret",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::Service(_) => "Service",
            Object::Deployment(_) => "Deployment",
            Object::StatefulSet(_) => "StatefulSet",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::ConfigMap(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::ConfigMap(o) => &mut o.metadata,
            Object::Secret(o) => &mut o.metadata,
            Object::NetworkPolicy(o) => &mut o.metadata,
            Object::PersistentVolumeClaim(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::Deployment(o) => &mut o.metadata,
            Object::StatefulSet(o) => &mut o.metadata,
            Object::PodDisruptionBudget(o) => &mut o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// The pod template of a workload.
    pub fn pod_template(&self) -> Option<&PodTemplateSpec> {
        match self {
            Object::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
            Object::StatefulSet(s) => s.spec.as_ref().map(|s| &s.template),
            _ => None,
        }
    }

    pub fn pod_template_mut(&mut self) -> Option<&mut PodTemplateSpec> {
        match self {
            Object::Deployment(d) => d.spec.as_mut().map(|s| &mut s.template),
            Object::StatefulSet(s) => s.spec.as_mut().map(|s| &mut s.template),
            _ => None,
        }
    }

    /// Desired replicas of a workload.
    pub fn replicas(&self) -> Option<i32> {
        match self {
            Object::Deployment(d) => d.spec.as_ref().and_then(|s| s.replicas),
            Object::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.replicas),
            _ => None,
        }
    }

    pub(crate) fn set_replicas(&mut self, n: i32) {
        match self {
            Object::Deployment(d) => {
                d.spec.as_mut().expect("workload has a spec").replicas = Some(n)
            }
            Object::StatefulSet(s) => {
                s.spec.as_mut().expect("workload has a spec").replicas = Some(n)
            }
            _ => {}
        }
    }
}

/// One rendered object, with the service it belongs to and the layer it is applied in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub layer: Layer,
    /// `None` for the shared config objects.
    pub service: Option<&'static str>,
    pub object: Object,
}
