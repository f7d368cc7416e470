//! Shared test support: one simulator per test, a kube client for it, and time bounds so no
//! test can hang (the client helpers live in `k8s_sim::client`, shared with onyx's tests).
#![allow(dead_code, unused_imports)]

pub use k8s_sim::client::{client_for, eventually, start, start_with, within};

pub fn rv(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .expect("resourceVersion")
        .parse()
        .expect("numeric resourceVersion")
}
