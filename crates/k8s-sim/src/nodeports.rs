//! NodePort Services, served as kube-proxy serves them on a node: a listener on each Service's
//! `nodePort`, each connection passed to a ready pod the Service selects, at the pod's target
//! port, which a forward rule maps to a local stand-in (the same rules port-forward uses).
//!
//! Off unless the simulator is started with an address for it (`--node-ports`): in-process tests
//! must not open fixed ports. A connection with no ready pod behind it, or no rule for the pod's
//! port, is closed at once, as a real node refuses it.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use crate::Shared;
use crate::select::Selector;
use crate::store::{meta_str, res};

/// Keeps a listener on `addr` for every NodePort Service's node port, for as long as the
/// simulator runs.
pub(crate) async fn run(shared: Arc<Shared>, addr: IpAddr) {
    let mut bound: HashSet<u16> = HashSet::new();
    let stopped = shared.stopped();
    tokio::pin!(stopped);
    loop {
        for port in node_ports(&shared) {
            if bound.contains(&port) {
                continue;
            }
            match TcpListener::bind((addr, port)).await {
                Ok(listener) => {
                    bound.insert(port);
                    tokio::spawn(accept(shared.clone(), listener, port));
                }
                Err(e) => eprintln!("k8s-sim: cannot listen on node port {addr}:{port}: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = &mut stopped => return,
        }
    }
}

fn node_ports(shared: &Shared) -> Vec<u16> {
    let w = shared.world();
    w.store
        .list(res("", "services"), None)
        .iter()
        .filter(|s| s["spec"]["type"] == "NodePort" || s["spec"]["type"] == "LoadBalancer")
        .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["nodePort"].as_u64().and_then(|n| u16::try_from(n).ok()))
        .collect()
}

async fn accept(shared: Arc<Shared>, listener: TcpListener, port: u16) {
    let stopped = shared.stopped();
    tokio::pin!(stopped);
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = &mut stopped => return,
        };
        let Ok((mut client, _)) = conn else { continue };
        let Some(local) = backend(&shared, port) else {
            drop(client);
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut upstream) = TcpStream::connect(local).await {
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
    }
}

/// Where a connection to `node_port` goes now: the Service that owns the port → a ready pod it
/// selects → the target port (a number, or a container port's name) → the forward rule's address.
fn backend(shared: &Shared, node_port: u16) -> Option<SocketAddr> {
    let w = shared.world();
    let services = w.store.list(res("", "services"), None);
    let (svc, port) = services.iter().find_map(|s| {
        s["spec"]["ports"]
            .as_array()?
            .iter()
            .find(|p| p["nodePort"].as_u64() == Some(u64::from(node_port)))
            .map(|p| (s, p.clone()))
    })?;
    let selector =
        Selector::from_labels(&Value::Object(svc["spec"]["selector"].as_object()?.clone()));
    let ns = meta_str(svc, "namespace");
    let pod = w
        .store
        .list(res("", "pods"), Some(ns))
        .into_iter()
        .filter(|p| selector.matches_labels(&p["metadata"]["labels"]))
        .find(crate::controllers::is_ready)?;
    let target = crate::controllers::target_port(&port, std::slice::from_ref(&pod)).as_u64()?;
    w.forwards
        .iter()
        .find(|r| u64::from(r.container_port) == target && r.target.matches(&pod))
        .map(|r| r.local)
}
