//! Shared test support: one simulator per test, a kube client for it, and time bounds so no
//! test can hang.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use k8s_sim::{Sim, SimConfig};
use kube::Client;

pub async fn start() -> (Sim, Client) {
    start_with(SimConfig::default()).await
}

pub async fn start_with(config: SimConfig) -> (Sim, Client) {
    let sim = Sim::start(config).await.expect("simulator starts");
    let client = client_for(&sim);
    (sim, client)
}

pub fn client_for(sim: &Sim) -> Client {
    // Built in the workspace, kube's TLS gets two rustls providers (ring and, through onyx's other
    // dependencies, aws-lc-rs); rustls then needs one chosen. Already chosen: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(sim.url().parse().expect("url"));
    config.default_namespace = "default".into();
    config.read_timeout = Some(Duration::from_secs(20));
    config.connect_timeout = Some(Duration::from_secs(5));
    Client::try_from(config).expect("client")
}

/// Runs `f` and fails the test if it takes longer than `secs`.
pub async fn within<F: Future>(secs: u64, what: &str, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs}s: {what}"),
    }
}

/// Polls `f` every 20 ms until it returns `Some`, failing after `secs`.
pub async fn eventually<T, Fut: Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    mut f: impl FnMut() -> Fut,
) -> T {
    within(secs, what, async {
        loop {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

pub fn rv(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .expect("resourceVersion")
        .parse()
        .expect("numeric resourceVersion")
}
