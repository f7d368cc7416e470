//! What a test needs to talk to a simulator: start one with a kube client for it, and the time
//! bounds that keep a test from hanging. Exported once here and used by this crate's tests
//! (`tests/common`) and by onyx's (`tests/it/support/sim.rs`), so the client settings the
//! simulator is tested with are the ones onyx's tests use.

use std::future::Future;
use std::time::Duration;

use kube::Client;

use crate::{Sim, SimConfig};

/// A simulator with the default timing and a client for it.
pub async fn start() -> (Sim, Client) {
    start_with(SimConfig::default()).await
}

/// A simulator with `config` and a client for it.
pub async fn start_with(config: SimConfig) -> (Sim, Client) {
    let sim = Sim::start(config).await.expect("simulator starts");
    let client = client_for(&sim);
    (sim, client)
}

/// A kube client for `sim`: namespace `default`, bounded connect and read.
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
