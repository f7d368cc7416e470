//! Step 5 of the tick: the kubelet. Scheduling onto `sim-node`, container states (injected faults
//! first, else the images' own start rules), readiness after `ready_delay`, restarts, events, logs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::events::event;
use super::{Kubelet, NODE, condition, is_ready, set_status};
use crate::faults::{Fault, Target};
use crate::store::{Store, meta_str, now_rfc3339, res};
use crate::{LogMap, SimConfig};

static NEXT_POD_IP: AtomicU32 = AtomicU32::new(10);

/// The kubelet's memory of one pod: what the store does not hold (when a fault began, restarts
/// so far, the events already recorded).
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

fn fault_for<'a>(
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

/// What the kubelet makes of one pod's main containers in a tick: their statuses, and the events
/// to record once the pod's status is written (type, reason, message).
struct Observed {
    statuses: Vec<Value>,
    all_ready: bool,
    any_started: bool,
    events: Vec<(&'static str, String, String)>,
}

/// One container of a pod on the node, and the tick it is looked at in.
struct Container<'a> {
    cfg: &'a SimConfig,
    /// When it is ready: the pod's own `ReadyDelay`, else the simulator's `ready_delay`.
    ready_delay: Duration,
    now: Instant,
    ns: &'a str,
    pod: &'a str,
    uid: &'a str,
    name: String,
    image: String,
    /// The pod has init containers (a main container waits in `PodInitializing`).
    has_init: bool,
}

pub(super) fn pods(
    store: &mut Store,
    faults: &[(u64, Target, Fault)],
    kubelet: &mut Kubelet,
    cfg: &SimConfig,
) {
    let now = Instant::now();
    for pod in store.list(res("", "pods"), None) {
        if schedule(store, faults, kubelet, &pod, now) {
            run(store, faults, kubelet, cfg, &pod, now);
        }
    }
}

/// Scheduling: an unschedulable fault, or a claim that is not bound, keeps it Pending; else it is
/// bound to the node. True when the pod was already on the node, so the kubelet runs it this tick.
fn schedule(
    store: &mut Store,
    faults: &[(u64, Target, Fault)],
    kubelet: &mut Kubelet,
    pod: &Value,
    now: Instant,
) -> bool {
    let pod_res = res("", "pods");
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if !node.is_empty() && node != NODE {
        // Bound to a node that does not exist: no kubelet will ever run it.
        return false;
    }
    if !node.is_empty() {
        return true;
    }
    let ns = meta_str(pod, "namespace").to_string();
    let name = meta_str(pod, "name").to_string();
    let uid = meta_str(pod, "uid").to_string();
    if let Some(msg) = unschedulable(store, faults, pod) {
        let status = json!({
            "phase": "Pending",
            "qosClass": pod["status"]["qosClass"].as_str().unwrap_or("BestEffort"),
            "conditions": [condition(&pod["status"]["conditions"], "PodScheduled", "False", "Unschedulable", &msg, false)],
        });
        set_status(store, pod_res, pod, status);
        if let Some(p) = store.get(pod_res, &ns, &name).cloned() {
            let rt = kubelet.pods.entry(uid).or_insert_with(PodRt::new);
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
        return false;
    }
    let mut n = pod.clone();
    n["spec"]["nodeName"] = json!(NODE);
    n["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    let Ok(n) = store.update(pod_res, &ns, &name, n) else {
        return false;
    };
    event(
        store,
        &n,
        "Normal",
        "Scheduled",
        &format!("Successfully assigned {ns}/{name} to {NODE}"),
        "default-scheduler",
    );
    let rt = kubelet.pods.entry(uid).or_insert_with(PodRt::new);
    rt.healthy_since = Some(now);
    rt.started_at = now_rfc3339();
    false
}

/// The scheduler's message for a pod it cannot place: an unschedulable fault's, or the one for a
/// claim that is not bound.
fn unschedulable(store: &Store, faults: &[(u64, Target, Fault)], pod: &Value) -> Option<String> {
    let ns = meta_str(pod, "namespace");
    let unbound = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|v| {
            let claim = v["persistentVolumeClaim"]["claimName"].as_str()?;
            let bound = store
                .get(res("", "persistentvolumeclaims"), ns, claim)
                .is_some_and(|c| c["status"]["phase"] == "Bound");
            (!bound).then(|| claim.to_string())
        });
    match fault_for(faults, pod, None) {
        Some(Fault::Unschedulable { message }) => Some(
            message
                .clone()
                .unwrap_or_else(|| "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.".into()),
        ),
        _ => unbound
            .map(|c| {
                format!("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims ({c}). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
            })
            .or_else(|| insufficient(store, pod)),
    }
}

/// The scheduler's `NodeResourcesFit`: the pod's requests against the node's allocatable less
/// the requests of every pod already bound to it (the node's own included, [`super::NODE_PODS`]);
/// the message names what is short, as kube-scheduler's does.
fn insufficient(store: &Store, pod: &Value) -> Option<String> {
    let node = store.get(res("", "nodes"), "", NODE)?;
    let alloc = &node["status"]["allocatable"];
    let (cpu, mem) = (
        cpu_m(&alloc["cpu"])?,
        crate::images::memory_bytes(&alloc["memory"])?,
    );
    let (used_cpu, used_mem) = store
        .list(res("", "pods"), None)
        .iter()
        .filter(|p| p["spec"]["nodeName"] == NODE)
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .map(requests)
        .fold((0, 0), |(c, m), (pc, pm)| (c + pc, m + pm));
    let (want_cpu, want_mem) = requests(pod);
    let mut short = Vec::new();
    if want_cpu + used_cpu > cpu {
        short.push("1 Insufficient cpu");
    }
    if want_mem + used_mem > mem {
        short.push("1 Insufficient memory");
    }
    (!short.is_empty()).then(|| {
        format!(
            "0/1 nodes are available: {}. preemption: 0/1 nodes are available: 1 No preemption \
             victims found for incoming pod.",
            short.join(", ")
        )
    })
}

/// A pod's effective requests (CPU millicores, memory bytes): the larger of its containers' sum
/// and its biggest init container's, as the scheduler computes them.
pub(super) fn requests(pod: &Value) -> (u64, u64) {
    let of = |key: &str| -> Vec<(u64, u64)> {
        pod["spec"][key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let r = &c["resources"]["requests"];
                (
                    cpu_m(&r["cpu"]).unwrap_or(0),
                    crate::images::memory_bytes(&r["memory"]).unwrap_or(0),
                )
            })
            .collect()
    };
    let main = of("containers")
        .into_iter()
        .fold((0, 0), |(c, m), (a, b)| (c + a, m + b));
    let init = of("initContainers")
        .into_iter()
        .fold((0, 0), |(c, m), (a, b)| (c.max(a), m.max(b)));
    (main.0.max(init.0), main.1.max(init.1))
}

/// A CPU quantity in millicores (`250m`, `2`, `1.5`).
fn cpu_m(q: &Value) -> Option<u64> {
    let s = q
        .as_str()
        .map(str::to_string)
        .or_else(|| q.as_f64().map(|n| n.to_string()))?;
    match s.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => s.parse::<f64>().ok().map(|c| (c * 1000.0).round() as u64),
    }
}

/// The kubelet's pass over a pod on the node: each container's state, then the pod's status, then
/// the events that happened.
fn run(
    store: &mut Store,
    faults: &[(u64, Target, Fault)],
    kubelet: &mut Kubelet,
    cfg: &SimConfig,
    pod: &Value,
    now: Instant,
) {
    let pod_res = res("", "pods");
    let ns = meta_str(pod, "namespace").to_string();
    let name = meta_str(pod, "name").to_string();
    let uid = meta_str(pod, "uid").to_string();
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let init = pod["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let own_delay = cfg.ready_delays.iter().find(|d| d.target.matches(pod));
    let ready_delay = own_delay.map_or(cfg.ready_delay, |d| Duration::from_millis(d.ms));
    let dependencies_ready = own_delay.is_none_or(|d| {
        d.after.iter().all(|selector| {
            let wanted = Target::labels(selector).in_namespace(&ns);
            store
                .list(pod_res, Some(&ns))
                .iter()
                .any(|p| wanted.matches(p) && is_ready(p))
        })
    });
    let rt = kubelet.pods.entry(uid.clone()).or_insert_with(|| {
        let mut r = PodRt::new();
        r.healthy_since = Some(now);
        r.started_at = now_rfc3339();
        r
    });
    // Held by its dependencies: the clock starts only when they are all Ready, once.
    if !rt.events.contains("dependencies-ready") {
        if dependencies_ready {
            rt.events.insert("dependencies-ready".into());
        } else {
            rt.healthy_since = Some(now);
        }
    }
    let mut seen = Observed {
        statuses: Vec::new(),
        all_ready: true,
        any_started: false,
        events: Vec::new(),
    };
    for c in &containers {
        let k = Container {
            cfg,
            ready_delay,
            now,
            ns: &ns,
            pod: &name,
            uid: &uid,
            name: c["name"].as_str().unwrap_or("").to_string(),
            image: c["image"].as_str().unwrap_or("").to_string(),
            has_init: !init.is_empty(),
        };
        let mut st = json!({
            "name": k.name, "image": k.image, "imageID": "", "containerID": "",
            "started": false, "ready": false, "restartCount": *rt.restarts.get(&k.name).unwrap_or(&0),
        });
        // An injected fault first; else what the image itself does with this spec.
        let links = crate::service_links::for_container(store, pod, c);
        let own = crate::images::start_failure(pod, c, &cfg.cluster_domain, &links);
        let fault = fault_for(faults, pod, Some(&k.name)).or(own.as_ref());
        match fault {
            Some(Fault::ImagePull { message }) => {
                pull_failing(&k, message.as_deref(), rt, &mut st, &mut seen);
            }
            Some(f @ (Fault::CrashLoop { .. } | Fault::OomKilled)) => {
                crash_looping(&k, f, rt, &mut kubelet.logs, &mut st, &mut seen);
            }
            _ => running(&k, fault, rt, &mut kubelet.logs, &mut st, &mut seen),
        }
        seen.statuses.push(st);
    }
    let status = pod_status(pod, &init, !containers.is_empty(), rt, &seen);
    set_status(store, pod_res, pod, status);
    if !seen.events.is_empty()
        && let Some(p) = store.get(pod_res, &ns, &name).cloned()
    {
        for (kind, reason, msg) in seen.events {
            event(store, &p, kind, &reason, &msg, "kubelet");
        }
    }
}

/// The image cannot be pulled: `ErrImagePull`, then `ImagePullBackOff` after a crash interval.
fn pull_failing(
    k: &Container,
    message: Option<&str>,
    rt: &mut PodRt,
    st: &mut Value,
    seen: &mut Observed,
) {
    let (cname, image) = (&k.name, &k.image);
    let since = *rt.fault_since.entry(cname.clone()).or_insert(k.now);
    let msg = message.map(str::to_string).unwrap_or_else(|| {
        format!("failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": dial tcp: lookup registry: no such host")
    });
    let backoff = k.now.duration_since(since) >= k.cfg.crash_interval;
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
        seen.events.push((
            "Normal",
            "Pulling".into(),
            format!("Pulling image \"{image}\""),
        ));
        seen.events.push((
            "Warning",
            "Failed".into(),
            format!("Failed to pull image \"{image}\": {msg}"),
        ));
        seen.events
            .push(("Warning", "Failed".into(), "Error: ErrImagePull".into()));
    }
    if backoff && rt.events.insert(format!("pull-backoff:{cname}")) {
        seen.events.push((
            "Normal",
            "BackOff".into(),
            format!("Back-off pulling image \"{image}\""),
        ));
        seen.events
            .push(("Warning", "Failed".into(), "Error: ImagePullBackOff".into()));
    }
    seen.all_ready = false;
}

/// The container exits (with its code and log lines, or OOM-killed) once per crash interval:
/// `CrashLoopBackOff`, a growing restart count, `lastState.terminated`.
fn crash_looping(
    k: &Container,
    fault: &Fault,
    rt: &mut PodRt,
    logs: &mut LogMap,
    st: &mut Value,
    seen: &mut Observed,
) {
    let (cname, image, uid) = (&k.name, &k.image, k.uid);
    let (name, ns) = (k.pod, k.ns);
    let since = *rt.fault_since.entry(cname.clone()).or_insert(k.now);
    let (code, reason, lines) = match fault {
        Fault::CrashLoop { exit_code, logs } => (*exit_code, "Error", logs.clone()),
        _ => (137, "OOMKilled", vec![]),
    };
    let crashes = (k.now.duration_since(since).as_millis()
        / k.cfg.crash_interval.as_millis().max(1)) as i64
        + 1;
    let base = rt
        .restarts
        .get(&format!("{cname}#base"))
        .copied()
        .unwrap_or_else(|| *rt.restarts.get(cname).unwrap_or(&0));
    rt.restarts.insert(format!("{cname}#base"), base);
    let restarts = base + crashes;
    if rt.restarts.get(cname) != Some(&restarts) {
        rt.restarts.insert(cname.clone(), restarts);
        let t = now_rfc3339();
        rt.last_state.insert(
            cname.clone(),
            json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": t, "finishedAt": t, "containerID": format!("sim://{uid}-{cname}-{restarts}")}}),
        );
        let logs = logs.entry((uid.to_string(), cname.clone())).or_default();
        logs.previous = Some(lines.clone());
        logs.current = lines.clone();
        seen.events.push((
            "Warning",
            "BackOff".into(),
            format!("Back-off restarting failed container {cname} in pod {name}_{ns}({uid})"),
        ));
    }
    st["restartCount"] = json!(restarts);
    st["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 10s restarting failed container={cname} pod={name}_{ns}({uid})")}});
    if let Some(ls) = rt.last_state.get(cname) {
        st["lastState"] = ls.clone();
    }
    if rt.events.insert(format!("started-once:{cname}")) {
        seen.events.push((
            "Normal",
            "Pulled".into(),
            format!("Container image \"{image}\" already present on machine"),
        ));
        seen.events.push((
            "Normal",
            "Created".into(),
            format!("Created container: {cname}"),
        ));
        seen.events.push((
            "Normal",
            "Started".into(),
            format!("Started container {cname}"),
        ));
    }
    seen.all_ready = false;
    seen.any_started = true;
}

/// No fault that stops it: the container starts after half of its `ready_delay` (the pod's own
/// `ReadyDelay`, else the simulator's) and is ready after
/// all of it, unless a `NotReady` fault keeps its readiness probe failing. A lifted fault starts
/// the clock again.
fn running(
    k: &Container,
    fault: Option<&Fault>,
    rt: &mut PodRt,
    logs: &mut LogMap,
    st: &mut Value,
    seen: &mut Observed,
) {
    let (cname, image, uid) = (&k.name, &k.image, k.uid);
    if rt.fault_since.remove(cname).is_some() {
        rt.healthy_since = Some(k.now);
        rt.restarts.remove(&format!("{cname}#base"));
    }
    let since = k.now.duration_since(rt.healthy_since.unwrap_or(k.now));
    if let Some(ls) = rt.last_state.get(cname) {
        st["lastState"] = ls.clone();
    }
    if since < k.ready_delay / 2 {
        let reason = if k.has_init {
            "PodInitializing"
        } else {
            "ContainerCreating"
        };
        st["state"] = json!({"waiting": {"reason": reason}});
        seen.all_ready = false;
        return;
    }
    seen.any_started = true;
    st["state"] = json!({"running": {"startedAt": rt.started_at}});
    st["started"] = json!(true);
    st["containerID"] = json!(format!("sim://{uid}-{cname}"));
    st["imageID"] = json!(format!("{image}@sha256:{}", "0".repeat(64)));
    if rt.events.insert(format!("started:{cname}")) {
        seen.events.push((
            "Normal",
            "Pulling".into(),
            format!("Pulling image \"{image}\""),
        ));
        seen.events.push((
            "Normal",
            "Pulled".into(),
            format!("Successfully pulled image \"{image}\""),
        ));
        seen.events.push((
            "Normal",
            "Created".into(),
            format!("Created container: {cname}"),
        ));
        seen.events.push((
            "Normal",
            "Started".into(),
            format!("Started container {cname}"),
        ));
        let logs = logs.entry((uid.to_string(), cname.clone())).or_default();
        logs.current.push(format!(
            "k8s-sim: container {cname} started (image {image})"
        ));
    }
    if let Some(Fault::NotReady { message }) = fault {
        // Running, never ready: a readiness probe that keeps failing.
        seen.all_ready = false;
        let msg = message.clone().unwrap_or_else(|| {
            "Readiness probe failed: HTTP probe failed with statuscode: 503".into()
        });
        if rt.events.insert(format!("unhealthy:{cname}:{msg}")) {
            seen.events.push(("Warning", "Unhealthy".into(), msg));
        }
    } else if since >= k.ready_delay {
        st["ready"] = json!(true);
    } else {
        seen.all_ready = false;
    }
}

/// The pod's status from its containers': phase, conditions, IPs, init containers.
fn pod_status(
    pod: &Value,
    init: &[Value],
    has_containers: bool,
    rt: &PodRt,
    seen: &Observed,
) -> Value {
    let old_conds = &pod["status"]["conditions"];
    let any_started = seen.any_started;
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
        condition(old_conds, "Initialized", "True", "", "", false)
    } else {
        let names: Vec<&str> = init.iter().filter_map(|c| c["name"].as_str()).collect();
        let msg = format!("containers with incomplete status: [{}]", names.join(" "));
        condition(
            old_conds,
            "Initialized",
            "False",
            "ContainersNotInitialized",
            &msg,
            false,
        )
    };
    let phase = if any_started { "Running" } else { "Pending" };
    let ready = if seen.all_ready && has_containers {
        "True"
    } else {
        "False"
    };
    let not_ready_msg = if ready == "True" {
        String::new()
    } else {
        let names: Vec<&str> = seen
            .statuses
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
            condition(old_conds, "PodReadyToStartContainers", "True", "", "", false),
            initialized,
            condition(old_conds, "Ready", ready, reason, &not_ready_msg, false),
            condition(old_conds, "ContainersReady", ready, reason, &not_ready_msg, false),
            condition(old_conds, "PodScheduled", "True", "", "", false),
        ],
        "hostIP": "172.18.0.2",
        "hostIPs": [{"ip": "172.18.0.2"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": rt.started_at,
        "containerStatuses": seen.statuses,
        "qosClass": pod["status"]["qosClass"].as_str().unwrap_or("BestEffort"),
    });
    if !init_statuses.is_empty() {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    status
}
