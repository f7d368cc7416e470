//! `k8s-sim`: the simulator as a standalone server, so anyone can point kubectl or onyx at it.
//!
//! Steps: parse flags → start the simulator on 127.0.0.1:PORT → write the kubeconfig → serve
//! until Ctrl-C. Faults are switched through `POST /_sim/faults` (see README).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// A Kubernetes API simulator for tests: the real HTTP API on 127.0.0.1, simulated controllers.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Port to listen on (127.0.0.1 only); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write a kubeconfig (context `sim`, namespace `default`) to this file.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Milliseconds from a pod being scheduled to its containers being ready.
    #[arg(long, default_value_t = 300)]
    ready_delay_ms: u64,
    /// Milliseconds between crashes of a crash-looping container (fault).
    #[arg(long, default_value_t = 1000)]
    crash_interval_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = k8s_sim::SimConfig {
        ready_delay: Duration::from_millis(args.ready_delay_ms),
        crash_interval: Duration::from_millis(args.crash_interval_ms),
        ..Default::default()
    };
    let sim = k8s_sim::Sim::start_on(config, args.port).await?;
    if let Some(path) = &args.kubeconfig {
        sim.write_kubeconfig(path)?;
        eprintln!("kubeconfig written to {}", path.display());
    }
    eprintln!("k8s-sim serving on {} (Ctrl-C to stop)", sim.url());
    println!("{}", sim.url());
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping");
    Ok(())
}
