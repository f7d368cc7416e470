//! Test fixtures for the diagnosis: pods, container states, events and facts built by hand, shared
//! by the table's tests in `mod.rs` and the per-rule tests in `rules.rs`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Event,
    ObjectReference, Pod, PodStatus,
};

use super::Facts;
use crate::stack::profile::ProfileName;

pub(crate) fn pod(statuses: Vec<ContainerStatus>) -> Pod {
    Pod {
        status: Some(PodStatus {
            container_statuses: Some(statuses),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn waiting(name: &str, reason: &str, restarts: i32) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        image: format!("example/{name}:1"),
        restart_count: restarts,
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn terminated_last(mut cs: ContainerStatus, reason: &str, code: i32) -> ContainerStatus {
    cs.last_state = Some(ContainerState {
        terminated: Some(ContainerStateTerminated {
            reason: Some(reason.into()),
            exit_code: code,
            ..Default::default()
        }),
        ..Default::default()
    });
    cs
}

pub(crate) fn event(reason: &str, object: &str, message: &str) -> Event {
    Event {
        reason: Some(reason.into()),
        message: Some(message.into()),
        involved_object: ObjectReference {
            name: Some(object.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub(crate) fn facts(service: &str) -> Facts {
    Facts {
        service: service.into(),
        profile: Some(ProfileName::Small),
        ..Default::default()
    }
}

pub(crate) fn with_limit(mut p: Pod, container: &str, limit: &str) -> Pod {
    use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    p.spec = Some(PodSpec {
        containers: vec![Container {
            name: container.into(),
            resources: Some(ResourceRequirements {
                limits: Some(BTreeMap::from([("memory".into(), Quantity(limit.into()))])),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    });
    p
}
