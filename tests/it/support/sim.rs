//! The simulator as onyx's tests use it: started with its kubeconfig in the test's own temporary
//! directory (which is also onyx's isolated home), the `onyx` command pointed at it, and a kube
//! client for assertions (`k8s_sim::client`, the one the simulator's own tests use).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_sim::{Sim, SimConfig};

use super::cmd::OnyxCommand;

/// One test's simulator, home and kubeconfig (context `sim`).
pub struct SimEnv {
    pub sim: Sim,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

/// The simulator's timing with these readiness and crash delays (milliseconds).
pub fn timing(ready_ms: u64, crash_ms: Option<u64>) -> SimConfig {
    let mut config = SimConfig {
        ready_delay: Duration::from_millis(ready_ms),
        ..SimConfig::default()
    };
    if let Some(ms) = crash_ms {
        config.crash_interval = Duration::from_millis(ms);
    }
    config
}

impl SimEnv {
    pub async fn start(config: SimConfig) -> SimEnv {
        onyx::init_tls();
        let sim = Sim::start(config).await.expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        SimEnv {
            sim,
            dir,
            kubeconfig,
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `onyx ARGS --kubeconfig … --context sim -n NAMESPACE`, isolated in this test's home.
    pub fn onyx(&self, namespace: &str, args: &[&str]) -> OnyxCommand {
        OnyxCommand::cluster(self.home(), &self.kubeconfig, "sim", namespace).args(args)
    }

    /// A kube client for the simulator (namespace `default`).
    pub fn client(&self) -> kube::Client {
        k8s_sim::client::client_for(&self.sim)
    }
}
