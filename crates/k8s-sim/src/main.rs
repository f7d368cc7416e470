//! `k8s-sim`: the simulator as a standalone server, so anyone can point kubectl or onyx at it.
//!
//! Steps: parse flags → start the simulator (127.0.0.1:PORT by default; HTTPS, a kept state and
//! node ports when asked) → write the kubeconfig → serve until Ctrl-C or SIGTERM, then write the
//! state once more. Faults are switched through `POST /_sim/faults` (see README).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// A Kubernetes API simulator for tests: the real HTTP API, simulated controllers.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on. Anything but 127.0.0.1 is for a simulator inside a container.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    listen: IpAddr,
    /// Serve HTTPS with a CA and certificate kept in this directory (made there if missing).
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// More names or addresses for the serving certificate (localhost and 127.0.0.1 always are).
    #[arg(long = "san")]
    sans: Vec<String>,
    /// Write a kubeconfig (context `sim`, namespace `default`) to this file.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The server address written into the kubeconfig (default: the address served).
    #[arg(long)]
    server: Option<String>,
    /// Keep the objects in this file across restarts.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Serve NodePort Services on this address, as kube-proxy does on a node.
    #[arg(long)]
    node_ports: Option<IpAddr>,
    /// A port-forward rule as JSON, as `POST /_sim/faults {"forward": …}` takes it:
    /// `{"target":{"labels":"app=nginx"},"containerPort":80,"local":"127.0.0.1:8080"}`.
    #[arg(long = "forward")]
    forwards: Vec<String>,
    /// Milliseconds from a pod being scheduled to its containers being ready.
    #[arg(long, default_value_t = 300)]
    ready_delay_ms: u64,
    /// A readiness delay of their own for some pods, as JSON (repeatable):
    /// `{"target":{"labels":"app=vespa"},"ms":20000,"after":["app=db"]}` (see `ReadyDelay`).
    #[arg(long = "ready-delay")]
    ready_delays: Vec<String>,
    /// Milliseconds between crashes of a crash-looping container (fault).
    #[arg(long, default_value_t = 1000)]
    crash_interval_ms: u64,
    /// The cluster's DNS domain (what `hostname -f` ends in for a StatefulSet's pods).
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// Make each local-path volume's directory here, as the provisioner's helper pod does on the
    /// node (for a simulator that is a stand-in node's API server).
    #[arg(long)]
    make_volume_dirs: bool,
    /// Apply the objects of every `*.yaml` file that appears in this directory, once each
    /// (replacing objects of the same kind and name), then rename it `*.yaml.applied`: how a
    /// stand-in node's `kubectl apply` reaches the simulator.
    #[arg(long)]
    apply_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = k8s_sim::SimConfig {
        ready_delay: Duration::from_millis(args.ready_delay_ms),
        ready_delays: args
            .ready_delays
            .iter()
            .map(|d| serde_json::from_str(d).with_context(|| format!("--ready-delay {d}")))
            .collect::<anyhow::Result<_>>()?,
        crash_interval: Duration::from_millis(args.crash_interval_ms),
        cluster_domain: args.cluster_domain.clone(),
        make_volume_dirs: args.make_volume_dirs,
        ..Default::default()
    };
    let rules: Vec<k8s_sim::ForwardRule> = args
        .forwards
        .iter()
        .map(|f| serde_json::from_str(f).with_context(|| format!("--forward {f}")))
        .collect::<anyhow::Result<_>>()?;
    let tls = match &args.tls_dir {
        Some(dir) => Some(
            k8s_sim::tls::TlsFiles::load_or_generate(dir, &args.sans)
                .map_err(|e| anyhow::anyhow!("--tls-dir {}: {e}", dir.display()))?,
        ),
        None => None,
    };
    let serve = k8s_sim::ServeOptions {
        addr: SocketAddr::new(args.listen, args.port),
        tls,
        state_file: args.state.clone(),
        node_ports: args.node_ports,
    };
    let sim = k8s_sim::Sim::start_with(config, serve).await?;
    for rule in rules {
        sim.forward_port(rule.target, rule.container_port, rule.local);
    }
    if let Some(path) = &args.kubeconfig {
        let server = args.server.clone().unwrap_or_else(|| sim.url());
        std::fs::write(path, sim.kubeconfig_yaml_for(&server))?;
        eprintln!("kubeconfig written to {}", path.display());
    }
    eprintln!("k8s-sim serving on {} (Ctrl-C to stop)", sim.url());
    println!("{}", sim.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let apply = async {
        match &args.apply_dir {
            Some(dir) => loop {
                apply_new_files(&sim, dir);
                tokio::time::sleep(Duration::from_millis(200)).await;
            },
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
        _ = apply => {}
    }
    eprintln!("stopping");
    sim.save_state()?;
    Ok(())
}

/// `--apply-dir`: each new `*.yaml` file's objects put into the simulator, then the file renamed
/// `*.yaml.applied` (or `*.yaml.failed`, with the reason on stderr).
fn apply_new_files(sim: &k8s_sim::Sim, dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("yaml") {
            continue;
        }
        let result = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_saphyr::from_multiple::<serde_json::Value>(&t).map_err(|e| e.to_string())
            })
            .and_then(|docs| {
                docs.into_iter()
                    .filter(|d| d.is_object())
                    .try_for_each(|d| sim.put_object(d))
            });
        let suffix = match &result {
            Ok(()) => "yaml.applied",
            Err(e) => {
                eprintln!("--apply-dir {}: {e}", path.display());
                "yaml.failed"
            }
        };
        let _ = std::fs::rename(&path, path.with_extension(suffix));
    }
}
