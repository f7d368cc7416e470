//! Running a command in one of the stack's pods and collecting its output and exit status
//! (what `kubectl exec` does), for checks that must look from inside the pod.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, ListParams};
use kube::{Api, Client};
use tokio::io::AsyncReadExt;

/// What a command printed and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// The API's message when it failed (e.g. "command terminated with non-zero exit code").
    pub message: String,
}

/// The name of a Ready pod of a stack service, if any.
pub async fn ready_pod(
    client: &Client,
    namespace: &str,
    service: &str,
) -> kube::Result<Option<String>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!("app.kubernetes.io/name={service},app.kubernetes.io/part-of=onyx");
    let list = pods.list(&ListParams::default().labels(&selector)).await?;
    Ok(list
        .items
        .into_iter()
        .find(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .and_then(|p| p.metadata.name))
}

/// Run `command` in `container` of `pod`, under a time limit.
pub async fn run(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[&str],
    limit: Duration,
) -> Result<Output, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let ap = AttachParams::default()
        .container(container)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let work = async {
        let mut process = pods
            .exec(pod, command.iter().copied(), &ap)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = process.stdout().ok_or("no stdout")?;
        let mut err = process.stderr().ok_or("no stderr")?;
        let status = process.take_status().ok_or("no status")?;
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let (r1, r2) = tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e));
        r1.map_err(|e| e.to_string())?;
        r2.map_err(|e| e.to_string())?;
        let status = status.await;
        let _ = process.join().await;
        Ok::<_, String>(Output {
            success: status
                .as_ref()
                .is_some_and(|s| s.status.as_deref() == Some("Success")),
            stdout: String::from_utf8_lossy(&o).into_owned(),
            stderr: String::from_utf8_lossy(&e).into_owned(),
            message: status.and_then(|s| s.message).unwrap_or_default(),
        })
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| format!("no answer within {}s", limit.as_secs()))?
}
