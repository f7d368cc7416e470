//! Pod logs, port-forward and exec: the pod subresources that stream.
//!
//! - `pods/log`: the simulated kubelet's per-container lines (`container`, `previous`,
//!   `tailLines`, `follow` until the pod goes away or the client leaves).
//! - `pods/portforward`: kubectl's SPDY/3.1 streams (in a WebSocket or a plain upgrade; see
//!   `spdy_forward.rs`), or a WebSocket speaking the channel protocol of kube-rs `Portforwarder`
//!   (`v4.channel.k8s.io`): per requested port a data channel `2i` and an error channel `2i+1`,
//!   each opened with a frame carrying the port as two little-endian bytes; data frames are
//!   `[channel, bytes...]`. The pod end is a TCP connection to the local address a test mapped
//!   with [`crate::Sim::forward_port`]. Deleting the pod (a restart) closes the WebSocket.
//! - `pods/exec`: a WebSocket (`v5.channel.k8s.io` or `v4`): stdin 0, stdout 1, stderr 2, and on
//!   exit a `Status` on channel 3 carrying the exit code; v5's `[255, 0]` closes stdin. The
//!   command runs as a local process chosen by [`crate::Sim::on_exec`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, BytesMut};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::Shared;
use crate::api::{Target, q, stream_body};
use crate::error::ApiError;
use crate::spdy_forward;
use crate::store::{EventType, meta_str, res};

/// A Close frame with code 1000: kubectl treats a Close without a code (1005) as an error.
fn normal_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code: 1000,
        reason: "".into(),
    }))
}

/// Upper bound of one port-forward data frame (the channel byte and up to this much minus one of
/// pod bytes): what one read from the pod's connection may return.
const FRAME_CAPACITY: usize = 256 * 1024;

/// Counts a live WebSocket session for [`crate::Sim::open_streams`].
pub(crate) struct OpenGuard(Arc<Shared>);
impl OpenGuard {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.open_streams.fetch_add(1, Ordering::SeqCst);
        OpenGuard(shared.clone())
    }
}
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

fn pod_and_container(
    shared: &Shared,
    t: &Target,
    container: Option<&str>,
) -> Result<(Value, String), ApiError> {
    let name = t.name.clone().unwrap_or_default();
    let pod = shared
        .world()
        .store
        .get(res("", "pods"), &t.ns, &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(res("", "pods"), &name))?;
    let names: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    // Init containers can be named explicitly (as kubelet allows), never picked by default.
    let init: Vec<String> = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    let c = match container {
        Some(c) if names.iter().chain(&init).any(|n| n == c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    Ok((pod, c))
}

pub fn logs(shared: Arc<Shared>, t: Target, query: &[(String, String)]) -> Response {
    let (pod, container) = match pod_and_container(&shared, &t, q(query, "container")) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let name = meta_str(&pod, "name").to_string();
    let uid = meta_str(&pod, "uid").to_string();
    let previous = matches!(q(query, "previous"), Some("true" | "1"));
    let follow = matches!(q(query, "follow"), Some("true" | "1"));
    let tail = q(query, "tailLines").and_then(|s| s.parse::<usize>().ok());
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            pod["status"]["initContainerStatuses"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .find(|s| s["name"] == container.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    let lines = {
        let w = shared.world();
        let logs = w
            .kubelet
            .logs
            .get(&(uid.clone(), container.clone()))
            .cloned()
            .unwrap_or_default();
        if previous {
            match logs.previous {
                Some(p) => p,
                None => {
                    return ApiError::bad_request(format!(
                        "previous terminated container \"{container}\" in pod \"{name}\" not found"
                    ))
                    .into_response();
                }
            }
        } else {
            let waiting = status["state"]["waiting"]["reason"].as_str().unwrap_or("");
            if status.is_null()
                || waiting == "ContainerCreating"
                || waiting == "PodInitializing"
                || waiting.contains("ImagePull")
                || waiting == "ErrImagePull"
            {
                let reason = if waiting.is_empty() {
                    "ContainerCreating"
                } else {
                    waiting
                };
                return ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
                ))
                .into_response();
            }
            logs.current
        }
    };
    let start = tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
    let text: String = lines[start..].iter().map(|l| format!("{l}\n")).collect();
    if !follow || previous {
        return ([(header::CONTENT_TYPE, "text/plain")], text).into_response();
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let mut sent = lines.len();
    tokio::spawn(async move {
        if !text.is_empty() && tx.send(Ok(Bytes::from(text))).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if shared.is_stopped() {
                return;
            }
            let next = {
                let w = shared.world();
                if !w.store.uid_exists(&uid) {
                    return;
                }
                let cur = w
                    .kubelet
                    .logs
                    .get(&(uid.clone(), container.clone()))
                    .map(|l| l.current.clone())
                    .unwrap_or_default();
                if cur.len() < sent {
                    sent = 0;
                }
                let new: String = cur[sent..].iter().map(|l| format!("{l}\n")).collect();
                sent = cur.len();
                new
            };
            if tx.is_closed() {
                return;
            }
            if !next.is_empty() && tx.send(Ok(Bytes::from(next))).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(stream_body(rx))
        .unwrap_or_else(|_| ApiError::internal("building the log response").into_response())
}

async fn upgrade(req: Request) -> Result<WebSocketUpgrade, Response> {
    let (mut parts, _) = req.into_parts();
    WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| {
            ApiError::bad_request(format!(
                "this endpoint needs a WebSocket upgrade (SPDY is not supported): {e}"
            ))
            .into_response()
        })
}

/// Resolves when the pod with `uid` is deleted.
pub(crate) async fn pod_gone(shared: Arc<Shared>, uid: String) {
    let mut sub = {
        let w = shared.world();
        if !w.store.uid_exists(&uid) {
            return;
        }
        w.store.subscribe()
    };
    loop {
        match sub.recv().await {
            Ok(c) => {
                if c.kind == EventType::Deleted && meta_str(&c.object, "uid") == uid {
                    return;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                if !shared.world().store.uid_exists(&uid) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

pub async fn portforward(
    shared: Arc<Shared>,
    t: Target,
    query: &[(String, String)],
    req: Request,
) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let (pod, rules) = {
        let w = shared.world();
        let Some(pod) = w.store.get(res("", "pods"), &t.ns, &name).cloned() else {
            return ApiError::not_found(res("", "pods"), &name).into_response();
        };
        (pod, w.forwards.clone())
    };
    if pod["status"]["phase"] != "Running" {
        return ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running (phase {})",
            pod["status"]["phase"].as_str().unwrap_or("Unknown")
        ))
        .into_response();
    }
    let uid = meta_str(&pod, "uid").to_string();
    let pod_label = format!("{}/{}", t.ns, name);
    // kubectl's protocol: ports come in each SPDY stream's headers, not in the query.
    let spdy = spdy_forward::wants_tunnel(req.headers());
    if spdy || spdy_forward::wants_spdy(req.headers()) {
        let mut ports: Vec<(u16, std::net::SocketAddr)> = Vec::new();
        for r in rules.iter().filter(|r| r.target.matches(&pod)) {
            if !ports.iter().any(|(p, _)| *p == r.container_port) {
                ports.push((r.container_port, r.local));
            }
        }
        let end = spdy_forward::PodEnd {
            shared,
            uid,
            pod: pod_label,
            ports,
            frame_capacity: FRAME_CAPACITY - 1,
        };
        return if spdy {
            spdy_forward::tunnel(req, end).await
        } else {
            spdy_forward::upgrade(req, end)
        };
    }
    let mut ports = Vec::new();
    for (_, v) in query.iter().filter(|(k, _)| k == "ports") {
        for p in v.split(',').filter(|p| !p.trim().is_empty()) {
            match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => return ApiError::bad_request(format!("invalid port {p:?}")).into_response(),
            }
        }
    }
    if ports.is_empty() {
        return ApiError::bad_request("at least one port must be given (ports=N)").into_response();
    }
    let targets: Vec<Option<std::net::SocketAddr>> = ports
        .iter()
        .map(|p| {
            rules
                .iter()
                .find(|r| r.container_port == *p && r.target.matches(&pod))
                .map(|r| r.local)
        })
        .collect();
    let ws = match upgrade(req).await {
        Ok(ws) => ws,
        Err(r) => return r,
    };
    ws.protocols([
        "v4.channel.k8s.io",
        "v5.channel.k8s.io",
        "portforward.k8s.io",
    ])
    .on_upgrade(move |socket| forward_session(socket, shared, uid, pod_label, ports, targets))
}

async fn forward_session(
    socket: WebSocket,
    shared: Arc<Shared>,
    uid: String,
    pod: String,
    ports: Vec<u16>,
    targets: Vec<Option<std::net::SocketAddr>>,
) {
    let _guard = OpenGuard::new(&shared);
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        // Queue every frame that is ready, then flush once: a burst goes out in few writes.
        'frames: while let Some(m) = out_rx.recv().await {
            let mut next = Some(m);
            let mut close = false;
            while let Some(m) = next.take() {
                close = matches!(m, Message::Close(_));
                if sink.feed(m).await.is_err() {
                    break 'frames;
                }
                if !close {
                    next = out_rx.try_recv().ok();
                }
            }
            if sink.flush().await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut tcp_writers = Vec::new();
    let mut readers = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let [lo, hi] = port.to_le_bytes();
        let data_ch = (2 * i) as u8;
        let _ = out_tx
            .send(Message::Binary(Bytes::from(vec![data_ch, lo, hi])))
            .await;
        let _ = out_tx
            .send(Message::Binary(Bytes::from(vec![data_ch + 1, lo, hi])))
            .await;
        let conn = match targets[i] {
            Some(addr) => {
                tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| std::io::Error::other("timed out"))
                    .and_then(|r| r)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused (no forward mapped in k8s-sim)",
            )),
        };
        match conn {
            Ok(tcp) => {
                let (mut r, w) = tcp.into_split();
                tcp_writers.push(Some(w));
                let tx = out_tx.clone();
                readers.push(tokio::spawn(async move {
                    // Read straight into the frame (channel byte first) and hand it over without
                    // a copy. Once the WebSocket has sent a frame and dropped it, `reserve` takes
                    // its block back, so a long transfer cycles through a few warm blocks instead
                    // of faulting in fresh pages for every frame.
                    let mut buf = BytesMut::new();
                    loop {
                        buf.reserve(FRAME_CAPACITY);
                        buf.put_u8(data_ch);
                        match r.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {
                                let frame = buf.split().freeze();
                                if tx.send(Message::Binary(frame)).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                }));
            }
            Err(e) => {
                tcp_writers.push(None);
                let msg = format!(
                    "error forwarding port {port} to pod {pod}, uid : failed to connect to localhost:{port}: {e}"
                );
                let mut frame = vec![data_ch + 1];
                frame.extend_from_slice(msg.as_bytes());
                let _ = out_tx.send(Message::Binary(Bytes::from(frame))).await;
            }
        }
    }
    let all_readers_done = async {
        for r in readers.iter_mut() {
            let _ = r.await;
        }
        if readers.is_empty() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(all_readers_done);
    let stopped = shared.stopped();
    tokio::pin!(stopped);
    let gone = pod_gone(shared, uid);
    tokio::pin!(gone);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            m = stream.next() => match m {
                Some(Ok(Message::Binary(b))) if b.len() > 1 => {
                    let ch = b[0] as usize;
                    if ch == 255 {
                        // v5 close signal: [255, channel]
                        let idx = b[1] as usize / 2;
                        if let Some(Some(w)) = tcp_writers.get_mut(idx) {
                            let _ = w.shutdown().await;
                        }
                        continue;
                    }
                    if ch.is_multiple_of(2)
                        && let Some(Some(w)) = tcp_writers.get_mut(ch / 2)
                        && w.write_all(&b[1..]).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = &mut all_readers_done => break,
            _ = &mut gone => break,
        }
    }
    for r in &readers {
        r.abort();
    }
    let _ = out_tx.send(normal_close()).await;
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

pub async fn exec(
    shared: Arc<Shared>,
    t: Target,
    query: &[(String, String)],
    req: Request,
) -> Response {
    let (pod, _container) = match pod_and_container(&shared, &t, q(query, "container")) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let command: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return ApiError::bad_request("you must specify at least 1 command").into_response();
    }
    let want_stdin = matches!(q(query, "stdin"), Some("true" | "1"));
    let rule = shared
        .world()
        .execs
        .iter()
        .find(|r| r.target.matches(&pod))
        .cloned();
    let ws = match upgrade(req).await {
        Ok(ws) => ws,
        Err(r) => return r,
    };
    let uid = meta_str(&pod, "uid").to_string();
    let argv = rule
        .as_ref()
        .map(|r| r.command.clone().unwrap_or_else(|| command.clone()));
    let env = rule.map(|r| r.env).unwrap_or_default();
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| exec_session(socket, shared, uid, argv, env, command, want_stdin))
}

fn exit_status(code: i32, command: &[String]) -> Value {
    if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"),
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        })
    }
}

async fn exec_session(
    socket: WebSocket,
    shared: Arc<Shared>,
    uid: String,
    argv: Option<Vec<String>>,
    env: std::collections::BTreeMap<String, String>,
    requested: Vec<String>,
    want_stdin: bool,
) {
    let _guard = OpenGuard::new(&shared);
    let (mut sink, mut stream) = socket.split();
    let status_frame = |v: Value| {
        let mut f = vec![3u8];
        f.extend_from_slice(v.to_string().as_bytes());
        Message::Binary(Bytes::from(f))
    };
    let Some(argv) = argv.filter(|a| !a.is_empty()) else {
        let st = json!({"metadata": {}, "status": "Failure", "reason": "InternalError",
            "message": "k8s-sim: no exec rule matches this pod (register one with Sim::on_exec or POST /_sim/faults {\"exec\": ...})"});
        let _ = sink.send(status_frame(st)).await;
        let _ = sink.send(normal_close()).await;
        return;
    };
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(env)
        .stdin(if want_stdin {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let st = json!({"metadata": {}, "status": "Failure", "reason": "InternalError",
                "message": format!("failed to exec in container: starting {:?}: {e}", argv[0])});
            let _ = sink.send(status_frame(st)).await;
            let _ = sink.send(normal_close()).await;
            return;
        }
    };
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let pump =
        |mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>, ch: u8, tx: mpsc::Sender<Message>| {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match r.read(&mut buf[1..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            buf[0] = ch;
                            if tx
                                .send(Message::Binary(Bytes::copy_from_slice(&buf[..=n])))
                                .await
                                .is_err()
                            {
                                break;
                            }
                        }
                    }
                }
            })
        };
    let out = child
        .stdout
        .take()
        .map(|s| pump(Box::new(s), 1, out_tx.clone()));
    let err = child
        .stderr
        .take()
        .map(|s| pump(Box::new(s), 2, out_tx.clone()));
    drop(out_tx);
    let mut stdin = child.stdin.take();
    let stopped = shared.stopped();
    tokio::pin!(stopped);
    let gone = pod_gone(shared, uid);
    tokio::pin!(gone);
    let mut code: Option<i32> = None;
    loop {
        tokio::select! {
            m = out_rx.recv() => match m {
                Some(m) => { if sink.send(m).await.is_err() { break; } }
                None => {
                    // stdout and stderr are drained; the exit status follows.
                    let st = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
                    code = Some(match st { Ok(Ok(s)) => s.code().unwrap_or(137), _ => 137 });
                    break;
                }
            },
            m = stream.next() => match m {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => {
                    match b[0] {
                        0 => {
                            if let Some(s) = stdin.as_mut()
                                && s.write_all(&b[1..]).await.is_err()
                            {
                                stdin = None;
                            }
                        }
                        255 if b.get(1) == Some(&0) => { stdin = None; }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => { let _ = child.start_kill(); break; }
                Some(Ok(_)) => {}
            },
            _ = &mut gone => { let _ = child.start_kill(); break; }
            _ = &mut stopped => { let _ = child.start_kill(); break; }
        }
    }
    for t in [out, err].into_iter().flatten() {
        t.abort();
    }
    if let Some(code) = code {
        let _ = sink.send(status_frame(exit_status(code, &requested))).await;
    }
    let _ = sink.send(normal_close()).await;
    let _ = sink.close().await;
}
