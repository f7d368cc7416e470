//! Step 5 of the tick: the kubelet. Scheduling onto `sim-node`, container states (injected faults
//! first, else the images' own start rules), readiness after `ready_delay`, restarts, events, logs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use super::events::event;
use super::{Kubelet, NODE, condition, set_status};
use crate::SimConfig;
use crate::faults::{Fault, Target};
use crate::store::{Store, meta_str, now_rfc3339, res};

static NEXT_POD_IP: AtomicU32 = AtomicU32::new(10);

pub(super) struct PodRt {
    /// When the containers began a clean start (scheduling, or a fault being lifted).
    healthy_since: Option<Instant>,
    started_at: String,
    ip: String,
    /// Per container: when the current fault began, restarts, last termination.
    fault_since: HashMap<String, Instant>,
    restarts: HashMap<String, i64>,
    last_state: HashMap<String, Value>,
    events: HashSet<String>,
}

impl PodRt {
    fn new() -> Self {
        let n = NEXT_POD_IP.fetch_add(1, Ordering::SeqCst);
        PodRt {
            healthy_since: None,
            started_at: String::new(),
            ip: format!("10.244.{}.{}", n / 250, n % 250 + 2),
            fault_since: HashMap::new(),
            restarts: HashMap::new(),
            last_state: HashMap::new(),
            events: HashSet::new(),
        }
    }
}

pub(super) fn fault_for<'a>(
    faults: &'a [(u64, Target, Fault)],
    obj: &Value,
    container: Option<&str>,
) -> Option<&'a Fault> {
    faults
        .iter()
        .filter(|(_, t, f)| !matches!(f, Fault::PvcPending) && t.matches(obj))
        .filter(|(_, t, _)| container.is_none_or(|c| t.matches_container(c)))
        .map(|(_, _, f)| f)
        .next()
}

pub(super) fn pods(
    store: &mut Store,
    faults: &[(u64, Target, Fault)],
    kubelet: &mut Kubelet,
    cfg: &SimConfig,
) {
    let pod_res = res("", "pods");
    let pvc_res = res("", "persistentvolumeclaims");
    let now = Instant::now();
    for pod in store.list(pod_res, None) {
        let ns = meta_str(&pod, "namespace").to_string();
        let name = meta_str(&pod, "name").to_string();
        let uid = meta_str(&pod, "uid").to_string();
        let containers = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let init = pod["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let old_conds = pod["status"]["conditions"].clone();

        // Scheduling: an unschedulable fault, or a claim that is not bound, keeps it Pending.
        let unbound = pod["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|v| {
                let claim = v["persistentVolumeClaim"]["claimName"].as_str()?;
                let bound = store
                    .get(pvc_res, &ns, claim)
                    .is_some_and(|c| c["status"]["phase"] == "Bound");
                (!bound).then(|| claim.to_string())
            });
        let unsched = match fault_for(faults, &pod, None) {
            Some(Fault::Unschedulable { message }) => Some(
                message
                    .clone()
                    .unwrap_or_else(|| "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.".into()),
            ),
            _ => unbound.map(|c| {
                format!("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims ({c}). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
            }),
        };
        let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
        if !node.is_empty() && node != NODE {
            // Bound to a node that does not exist: no kubelet will ever run it.
            continue;
        }
        if node.is_empty() {
            if let Some(msg) = unsched {
                let status = json!({
                    "phase": "Pending",
                    "qosClass": pod["status"]["qosClass"].as_str().unwrap_or("BestEffort"),
                    "conditions": [condition(&old_conds, "PodScheduled", "False", "Unschedulable", &msg, false)],
                });
                set_status(store, pod_res, &pod, status);
                if let Some(p) = store.get(pod_res, &ns, &name).cloned() {
                    let rt = kubelet.pods.entry(uid.clone()).or_insert_with(PodRt::new);
                    if rt.events.insert(format!("FailedScheduling:{msg}")) {
                        event(
                            store,
                            &p,
                            "Warning",
                            "FailedScheduling",
                            &msg,
                            "default-scheduler",
                        );
                    }
                }
                continue;
            }
            let mut n = pod.clone();
            n["spec"]["nodeName"] = json!(NODE);
            n["metadata"]
                .as_object_mut()
                .map(|m| m.remove("resourceVersion"));
            let Ok(n) = store.update(pod_res, &ns, &name, n) else {
                continue;
            };
            event(
                store,
                &n,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {ns}/{name} to {NODE}"),
                "default-scheduler",
            );
            let rt = kubelet.pods.entry(uid.clone()).or_insert_with(PodRt::new);
            rt.healthy_since = Some(now);
            rt.started_at = now_rfc3339();
            continue;
        }
        let pod = pod.clone();
        let rt = kubelet.pods.entry(uid.clone()).or_insert_with(|| {
            let mut r = PodRt::new();
            r.healthy_since = Some(now);
            r.started_at = now_rfc3339();
            r
        });
        let mut statuses = Vec::new();
        let mut all_ready = true;
        let mut any_started = false;
        let mut pending_events: Vec<(&str, String, String)> = Vec::new();
        for c in &containers {
            let cname = c["name"].as_str().unwrap_or("").to_string();
            let image = c["image"].as_str().unwrap_or("").to_string();
            let mut st = json!({
                "name": cname, "image": image, "imageID": "", "containerID": "",
                "started": false, "ready": false, "restartCount": *rt.restarts.get(&cname).unwrap_or(&0),
            });
            // An injected fault first; else what the image itself does with this spec.
            let own = crate::images::start_failure(&pod, c, &cfg.cluster_domain);
            let fault = fault_for(faults, &pod, Some(&cname)).or(own.as_ref());
            match fault {
                Some(Fault::ImagePull { message }) => {
                    let since = *rt.fault_since.entry(cname.clone()).or_insert(now);
                    let msg = message.clone().unwrap_or_else(|| {
                        format!("failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": dial tcp: lookup registry: no such host")
                    });
                    let backoff = now.duration_since(since) >= cfg.crash_interval;
                    let reason = if backoff {
                        "ImagePullBackOff"
                    } else {
                        "ErrImagePull"
                    };
                    let wmsg = if backoff {
                        format!("Back-off pulling image \"{image}\": ErrImagePull: {msg}")
                    } else {
                        msg.clone()
                    };
                    st["state"] = json!({"waiting": {"reason": reason, "message": wmsg}});
                    if rt.events.insert(format!("pull-fail:{cname}")) {
                        pending_events.push((
                            "Normal",
                            "Pulling".into(),
                            format!("Pulling image \"{image}\""),
                        ));
                        pending_events.push((
                            "Warning",
                            "Failed".into(),
                            format!("Failed to pull image \"{image}\": {msg}"),
                        ));
                        pending_events.push((
                            "Warning",
                            "Failed".into(),
                            "Error: ErrImagePull".into(),
                        ));
                    }
                    if backoff && rt.events.insert(format!("pull-backoff:{cname}")) {
                        pending_events.push((
                            "Normal",
                            "BackOff".into(),
                            format!("Back-off pulling image \"{image}\""),
                        ));
                        pending_events.push((
                            "Warning",
                            "Failed".into(),
                            "Error: ImagePullBackOff".into(),
                        ));
                    }
                    all_ready = false;
                }
                Some(Fault::CrashLoop { .. }) | Some(Fault::OomKilled) => {
                    let since = *rt.fault_since.entry(cname.clone()).or_insert(now);
                    let (code, reason, lines) = match fault {
                        Some(Fault::CrashLoop { exit_code, logs }) => {
                            (*exit_code, "Error", logs.clone())
                        }
                        _ => (137, "OOMKilled", vec![]),
                    };
                    let crashes = (now.duration_since(since).as_millis()
                        / cfg.crash_interval.as_millis().max(1))
                        as i64
                        + 1;
                    let base = rt
                        .restarts
                        .get(&format!("{cname}#base"))
                        .copied()
                        .unwrap_or_else(|| *rt.restarts.get(&cname).unwrap_or(&0));
                    rt.restarts.insert(format!("{cname}#base"), base);
                    let restarts = base + crashes;
                    if rt.restarts.get(&cname) != Some(&restarts) {
                        rt.restarts.insert(cname.clone(), restarts);
                        let t = now_rfc3339();
                        rt.last_state.insert(
                            cname.clone(),
                            json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": t, "finishedAt": t, "containerID": format!("sim://{uid}-{cname}-{restarts}")}}),
                        );
                        let logs = kubelet
                            .logs
                            .entry((uid.clone(), cname.clone()))
                            .or_default();
                        logs.previous = Some(lines.clone());
                        logs.current = lines.clone();
                        pending_events.push(("Warning", "BackOff".into(), format!("Back-off restarting failed container {cname} in pod {name}_{ns}({uid})")));
                    }
                    st["restartCount"] = json!(restarts);
                    st["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 10s restarting failed container={cname} pod={name}_{ns}({uid})")}});
                    if let Some(ls) = rt.last_state.get(&cname) {
                        st["lastState"] = ls.clone();
                    }
                    if rt.events.insert(format!("started-once:{cname}")) {
                        pending_events.push((
                            "Normal",
                            "Pulled".into(),
                            format!("Container image \"{image}\" already present on machine"),
                        ));
                        pending_events.push((
                            "Normal",
                            "Created".into(),
                            format!("Created container: {cname}"),
                        ));
                        pending_events.push((
                            "Normal",
                            "Started".into(),
                            format!("Started container {cname}"),
                        ));
                    }
                    all_ready = false;
                    any_started = true;
                }
                _ => {
                    if rt.fault_since.remove(&cname).is_some() {
                        rt.healthy_since = Some(now);
                        rt.restarts.remove(&format!("{cname}#base"));
                    }
                    let since = now.duration_since(rt.healthy_since.unwrap_or(now));
                    if let Some(ls) = rt.last_state.get(&cname) {
                        st["lastState"] = ls.clone();
                    }
                    if since >= cfg.ready_delay / 2 {
                        any_started = true;
                        st["state"] = json!({"running": {"startedAt": rt.started_at}});
                        st["started"] = json!(true);
                        st["containerID"] = json!(format!("sim://{uid}-{cname}"));
                        st["imageID"] = json!(format!("{image}@sha256:{}", "0".repeat(64)));
                        if rt.events.insert(format!("started:{cname}")) {
                            pending_events.push((
                                "Normal",
                                "Pulling".into(),
                                format!("Pulling image \"{image}\""),
                            ));
                            pending_events.push((
                                "Normal",
                                "Pulled".into(),
                                format!("Successfully pulled image \"{image}\""),
                            ));
                            pending_events.push((
                                "Normal",
                                "Created".into(),
                                format!("Created container: {cname}"),
                            ));
                            pending_events.push((
                                "Normal",
                                "Started".into(),
                                format!("Started container {cname}"),
                            ));
                            let logs = kubelet
                                .logs
                                .entry((uid.clone(), cname.clone()))
                                .or_default();
                            logs.current.push(format!(
                                "k8s-sim: container {cname} started (image {image})"
                            ));
                        }
                        if let Some(Fault::NotReady { message }) = fault {
                            // Running, never ready: a readiness probe that keeps failing.
                            all_ready = false;
                            let msg = message.clone().unwrap_or_else(|| {
                                "Readiness probe failed: HTTP probe failed with statuscode: 503"
                                    .into()
                            });
                            if rt.events.insert(format!("unhealthy:{cname}:{msg}")) {
                                pending_events.push(("Warning", "Unhealthy".into(), msg));
                            }
                        } else if since >= cfg.ready_delay {
                            st["ready"] = json!(true);
                        } else {
                            all_ready = false;
                        }
                    } else {
                        let reason = if init.is_empty() {
                            "ContainerCreating"
                        } else {
                            "PodInitializing"
                        };
                        st["state"] = json!({"waiting": {"reason": reason}});
                        all_ready = false;
                    }
                }
            }
            statuses.push(st);
        }
        // Init containers run to completion before the main containers start.
        let init_statuses: Vec<Value> = init
            .iter()
            .map(|c| {
                let mut st = json!({
                    "name": c["name"], "image": c["image"], "imageID": "", "restartCount": 0,
                    "ready": any_started, "started": !any_started,
                });
                st["state"] = if any_started {
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": rt.started_at, "finishedAt": rt.started_at}})
                } else {
                    json!({"running": {"startedAt": rt.started_at}})
                };
                st
            })
            .collect();
        let initialized = if init.is_empty() || any_started {
            condition(&old_conds, "Initialized", "True", "", "", false)
        } else {
            let names: Vec<&str> = init.iter().filter_map(|c| c["name"].as_str()).collect();
            let msg = format!("containers with incomplete status: [{}]", names.join(" "));
            condition(
                &old_conds,
                "Initialized",
                "False",
                "ContainersNotInitialized",
                &msg,
                false,
            )
        };
        let phase = if any_started { "Running" } else { "Pending" };
        let ready = if all_ready && !containers.is_empty() {
            "True"
        } else {
            "False"
        };
        let not_ready_msg = if ready == "True" {
            String::new()
        } else {
            let names: Vec<&str> = statuses
                .iter()
                .filter(|s| s["ready"] != true)
                .filter_map(|s| s["name"].as_str())
                .collect();
            format!("containers with unready status: [{}]", names.join(" "))
        };
        let reason = if ready == "True" {
            ""
        } else {
            "ContainersNotReady"
        };
        let ip = rt.ip.clone();
        let mut status = json!({
            "phase": phase,
            "conditions": [
                condition(&old_conds, "PodReadyToStartContainers", "True", "", "", false),
                initialized,
                condition(&old_conds, "Ready", ready, reason, &not_ready_msg, false),
                condition(&old_conds, "ContainersReady", ready, reason, &not_ready_msg, false),
                condition(&old_conds, "PodScheduled", "True", "", "", false),
            ],
            "hostIP": "172.18.0.2",
            "hostIPs": [{"ip": "172.18.0.2"}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": rt.started_at,
            "containerStatuses": statuses,
            "qosClass": pod["status"]["qosClass"].as_str().unwrap_or("BestEffort"),
        });
        if !init_statuses.is_empty() {
            status["initContainerStatuses"] = json!(init_statuses);
        }
        set_status(store, pod_res, &pod, status);
        if !pending_events.is_empty()
            && let Some(p) = store.get(pod_res, &ns, &name).cloned()
        {
            for (kind, reason, msg) in pending_events {
                event(store, &p, kind, &reason, &msg, "kubelet");
            }
        }
    }
}
