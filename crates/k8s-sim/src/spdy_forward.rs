//! `pods/portforward` in the protocol `kubectl port-forward` speaks: SPDY/3.1 streams, either
//! tunneled in a WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`, what kubectl 1.32 tries
//! first) or over a plain `Upgrade: SPDY/3.1` (its fallback, and all it does with
//! `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`).
//!
//! What each side does, read from source:
//! - kubectl v0.32.4 `pkg/cmd/portforward/portforward.go` `createDialer`: unless the env var
//!   `KUBECTL_PORT_FORWARD_WEBSOCKETS` is `false` (`pkg/cmd/util/helpers.go` `IsDisabled`), dial
//!   the tunneling dialer, and on an upgrade failure (`httpstream.IsUpgradeFailure`, i.e. a
//!   WebSocket bad handshake) fall back to the SPDY dialer (a POST with `Upgrade: SPDY/3.1`,
//!   `X-Stream-Protocol-Version: portforward.k8s.io`).
//! - client-go v0.32.4 `tools/portforward/tunneling_dialer.go`: a GET WebSocket upgrade asking for
//!   `SPDY/3.1+portforward.k8s.io` (apimachinery `pkg/util/portforward/constants.go`);
//!   `tunneling_connection.go`: every SPDY write is one binary message, reads join messages into a
//!   byte stream, any other message type is an error, a Close 1000 is EOF.
//! - client-go v0.32.4 `tools/portforward/portforward.go` `handleConnection`: per local connection
//!   an `error` stream then a `data` stream, both with headers `streamType`, `port` and
//!   `requestID`; it half-closes the error stream at once and reads it to EOF (text there is an
//!   error, after which kubectl closes the whole connection); it copies both ways on the data
//!   stream, half-closes it when the local side ends, and resets it once the remote side ends.
//! - apiserver v0.32.4 `pkg/util/proxy/streamtunnel.go`: the API server upgrades the WebSocket
//!   with the subprotocol `SPDY/3.1+` + the kubelet's chosen protocol and tunnels the kubelet's
//!   SPDY connection through it unchanged. The WebSocket tunnel is behind the API server's
//!   `PortForwardWebsockets` feature gate, beta and on by default since 1.31 (kubernetes website
//!   `feature-gates/PortForwardWebsockets.md`).
//! - kubelet `pkg/kubelet/cri/streaming/portforward/httpstream.go`: `httpstream.Handshake`
//!   against `portforward.k8s.io`; each new stream must carry a valid `port` and a `streamType` of
//!   `error` or `data` or it is reset; streams pair up by `requestID` (without one: the error
//!   stream's id, or the data stream's id minus 2); a complete pair is forwarded, an error is
//!   written as text on the error stream, then the error stream and the data stream are closed.
//! - apimachinery v0.32.4 `pkg/util/httpstream/spdy/connection.go` `newSpdyStream`: an accepted
//!   stream gets a SYN_REPLY with no headers; spdystream v0.5.0 `connection.go` echoes a peer's
//!   PING, and a reset is RST_STREAM with status CANCEL.
//!
//! The pod end of each data stream is a TCP connection to the address a test mapped with
//! [`crate::Sim::forward_port`], as for the WebSocket v4 protocol in `streams.rs`. Deleting the
//! pod, or stopping the simulator, ends the session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::Shared;
use crate::error::ApiError;
use crate::spdy::{self, Codec, FLAG_FIN, Frame};

/// apimachinery v0.32.4 `pkg/util/portforward/constants.go`.
pub const PORT_FORWARD_V1: &str = "portforward.k8s.io";
pub const TUNNELING_PREFIX: &str = "SPDY/3.1+";
/// apimachinery v0.32.4 `pkg/util/httpstream/spdy/roundtripper.go` `HeaderSpdy31`.
const HEADER_SPDY31: &str = "SPDY/3.1";
/// apimachinery v0.32.4 `pkg/util/httpstream/httpstream.go` `HeaderProtocolVersion`.
const HEADER_PROTOCOL_VERSION: &str = "X-Stream-Protocol-Version";

/// The pod a session forwards to, and where each of its ports is served locally.
pub struct PodEnd {
    pub shared: Arc<Shared>,
    pub uid: String,
    /// `namespace/name`, for messages.
    pub pod: String,
    pub ports: Vec<(u16, SocketAddr)>,
    /// Bytes one read from the pod may put in one data frame.
    pub frame_capacity: usize,
}

fn header_values(h: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Vec<&str> {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// A WebSocket upgrade asking for a `SPDY/3.1+…k8s.io` subprotocol (apimachinery v0.32.4
/// `wsstream/conn.go` `IsWebSocketRequestWithTunnelingProtocol`).
pub fn wants_tunnel(h: &HeaderMap) -> bool {
    let ws = header_values(h, header::UPGRADE)
        .iter()
        .any(|v| v.eq_ignore_ascii_case("websocket"));
    ws && header_values(h, header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .any(|p| p.starts_with(TUNNELING_PREFIX) && p.ends_with(".k8s.io"))
}

/// `Connection: Upgrade` with `Upgrade: SPDY/3.1` (apimachinery v0.32.4
/// `httpstream/spdy/upgrade.go` `UpgradeResponse`).
pub fn wants_spdy(h: &HeaderMap) -> bool {
    header_values(h, header::CONNECTION)
        .iter()
        .any(|v| v.eq_ignore_ascii_case("upgrade"))
        && header_values(h, header::UPGRADE)
            .iter()
            .any(|v| v.eq_ignore_ascii_case(HEADER_SPDY31))
}

/// kubelet's refusal of a protocol it does not speak: `http.Error(w, msg, 403)`, plain text.
fn forbidden(msg: String) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

/// The WebSocket tunnel: upgrade with `SPDY/3.1+portforward.k8s.io`, then SPDY inside.
pub async fn tunnel(req: Request, end: PodEnd) -> Response {
    let offered = header_values(req.headers(), header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .any(|p| p.strip_prefix(TUNNELING_PREFIX) == Some(PORT_FORWARD_V1));
    if !offered {
        // kubelet `httpstream.Handshake`: no common protocol is 403 Forbidden.
        return forbidden(format!(
            "unable to upgrade: unable to negotiate protocol: server accepts [{PORT_FORWARD_V1}]"
        ));
    }
    let (mut parts, _) = req.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(e) => return ApiError::bad_request(format!("unable to upgrade: {e}")).into_response(),
    };
    ws.protocols([format!("{TUNNELING_PREFIX}{PORT_FORWARD_V1}")])
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            session(Rx::Ws(stream), Tx::Ws(sink), end)
        })
}

/// The plain SPDY upgrade: 101 `Upgrade: SPDY/3.1`, then SPDY on the connection.
pub fn upgrade(mut req: Request, end: PodEnd) -> Response {
    // kubelet `handleHTTPStreams` → apimachinery `httpstream.Handshake`.
    let protocols = header_values(req.headers(), HEADER_PROTOCOL_VERSION);
    if protocols.is_empty() {
        return ApiError::bad_request(format!(
            "unable to upgrade: {HEADER_PROTOCOL_VERSION} is required"
        ))
        .into_response();
    }
    if !protocols.contains(&PORT_FORWARD_V1) {
        return forbidden(format!(
            "unable to upgrade: unable to negotiate protocol: client supports {protocols:?}, server accepts [{PORT_FORWARD_V1}]"
        ));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let (r, w) = tokio::io::split(TokioIo::new(upgraded));
            session(Rx::Raw(r), Tx::Raw(w), end).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, HEADER_SPDY31)
        .header(HEADER_PROTOCOL_VERSION, PORT_FORWARD_V1)
        .body(Body::empty())
        .unwrap_or_else(|_| ApiError::internal("building the upgrade response").into_response())
}

type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

enum Rx {
    Ws(SplitStream<WebSocket>),
    Raw(ReadHalf<Upgraded>),
}

impl Rx {
    /// Appends the next bytes from the client; false once it is gone.
    async fn fill(&mut self, buf: &mut BytesMut) -> bool {
        match self {
            Rx::Ws(s) => loop {
                match s.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        buf.extend_from_slice(&b);
                        return true;
                    }
                    // client-go `TunnelingConnection.Read`: a non-binary message is an error.
                    Some(Ok(Message::Text(_))) => return false,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return false,
                }
            },
            Rx::Raw(r) => {
                buf.reserve(64 * 1024);
                matches!(r.read_buf(buf).await, Ok(n) if n > 0)
            }
        }
    }
}

enum Tx {
    Ws(SplitSink<WebSocket, Message>),
    Raw(WriteHalf<Upgraded>),
}

impl Tx {
    async fn feed(&mut self, frame: Bytes) -> bool {
        match self {
            Tx::Ws(s) => s.feed(Message::Binary(frame)).await.is_ok(),
            Tx::Raw(w) => w.write_all(&frame).await.is_ok(),
        }
    }

    async fn flush(&mut self) -> bool {
        match self {
            Tx::Ws(s) => s.flush().await.is_ok(),
            Tx::Raw(w) => w.flush().await.is_ok(),
        }
    }

    async fn close(&mut self) {
        match self {
            Tx::Ws(s) => {
                // client-go `TunnelingConnection.Close`: a Close with 1000 is a clean end (EOF).
                let _ = s
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1000,
                        reason: "".into(),
                    })))
                    .await;
                let _ = s.close().await;
            }
            Tx::Raw(w) => {
                let _ = w.shutdown().await;
            }
        }
    }
}

/// One forwarded connection: its two streams by `requestID`.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<(u32, u16, mpsc::Receiver<Bytes>)>,
}

async fn session(mut rx: Rx, mut tx: Tx, end: PodEnd) {
    let _guard = crate::streams::OpenGuard::new(&end.shared);
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(64);
    let writer = tokio::spawn(async move {
        // Queue every frame that is ready, then flush once.
        'frames: while let Some(f) = out_rx.recv().await {
            let mut next = Some(f);
            while let Some(f) = next.take() {
                if !tx.feed(f).await {
                    break 'frames;
                }
                next = out_rx.try_recv().ok();
            }
            if !tx.flush().await {
                break;
            }
        }
        tx.close().await;
    });

    let mut codec = Codec::new();
    let mut inbuf = BytesMut::with_capacity(64 * 1024);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Client bytes for each data stream's pod connection; dropping the sender half-closes it.
    let mut to_pod: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    // A reset data stream stops its forward.
    let mut resets: HashMap<u32, oneshot::Sender<()>> = HashMap::new();
    let mut last_stream = 0;
    let stopped = end.shared.stopped();
    tokio::pin!(stopped);
    let gone = crate::streams::pod_gone(end.shared.clone(), end.uid.clone());
    tokio::pin!(gone);

    'session: loop {
        // Handle every whole frame buffered so far.
        loop {
            let frame = match codec.parse(&mut inbuf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'session,
            };
            let mut out = BytesMut::new();
            match frame {
                Frame::SynStream { id, headers, .. } => {
                    last_stream = id;
                    let Some((kind, port, request)) = stream_headers(id, &headers) else {
                        // kubelet `httpStreamReceived` rejects it; spdystream resets with CANCEL.
                        codec.rst_stream(&mut out, id, spdy::RST_CANCEL);
                        if out_tx.send(out.freeze()).await.is_err() {
                            break 'session;
                        }
                        continue;
                    };
                    let pair = pairs.entry(request.clone()).or_default();
                    let duplicate = match kind {
                        Kind::Error => pair.error.replace(id).is_some(),
                        Kind::Data => {
                            let (tx, rx) = mpsc::channel(64);
                            to_pod.insert(id, tx);
                            pair.data.replace((id, port, rx)).is_some()
                        }
                    };
                    codec.syn_reply(&mut out, id, &[]);
                    if duplicate {
                        // kubelet: "error processing stream for request …: … already assigned"
                        let which = if kind == Kind::Error { "error" } else { "data" };
                        let msg = format!(
                            "error processing stream for request {request}: {which} stream already assigned"
                        );
                        if let Some(e) = pair.error {
                            out.extend_from_slice(&spdy::data_frame(e, 0, msg.as_bytes()));
                        }
                    }
                    if out_tx.send(out.freeze()).await.is_err() {
                        break 'session;
                    }
                    if pair.error.is_some()
                        && pair.data.is_some()
                        && let Some(p) = pairs.remove(&request)
                        && let (Some(error), Some((data, port, rx))) = (p.error, p.data)
                    {
                        let target = end.ports.iter().find(|(p, _)| *p == port).map(|(_, a)| *a);
                        let (reset_tx, reset_rx) = oneshot::channel();
                        resets.insert(data, reset_tx);
                        let msg_pod = format!("{}, uid {}", end.pod, end.uid);
                        tokio::spawn(forward(
                            Streams { data, error, port },
                            target,
                            msg_pod,
                            rx,
                            out_tx.clone(),
                            reset_rx,
                            end.frame_capacity,
                        ));
                    }
                }
                Frame::Data { id, flags, data } => {
                    if !data.is_empty()
                        && let Some(tx) = to_pod.get(&id)
                        && tx.send(data).await.is_err()
                    {
                        to_pod.remove(&id);
                    }
                    if flags & FLAG_FIN != 0 {
                        to_pod.remove(&id);
                    }
                }
                Frame::RstStream { id, .. } => {
                    to_pod.remove(&id);
                    if let Some(r) = resets.remove(&id) {
                        let _ = r.send(());
                    }
                }
                Frame::Ping { id } => {
                    // spdystream `handlePingFrame`: a ping of the peer's parity (odd from a
                    // client) is echoed.
                    if id & 1 == 1 {
                        codec.ping(&mut out, id);
                        if out_tx.send(out.freeze()).await.is_err() {
                            break 'session;
                        }
                    }
                }
                Frame::GoAway => break 'session,
                Frame::SynReply { .. } | Frame::Headers { .. } | Frame::Other => {}
            }
        }
        resets.retain(|_, r| !r.is_closed());
        tokio::select! {
            more = rx.fill(&mut inbuf) => if !more { break },
            _ = &mut stopped => break,
            _ = &mut gone => break,
        }
    }
    // spdystream `Connection.Close`: GOAWAY, then the connection ends.
    for (_, r) in resets.drain() {
        let _ = r.send(());
    }
    let mut out = BytesMut::new();
    codec.goaway(&mut out, last_stream);
    let _ = out_tx.send(out.freeze()).await;
    drop(to_pod);
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Error,
    Data,
}

/// `(streamType, port, requestID)` of a new stream, or `None` if kubelet would reject it.
fn stream_headers(id: u32, headers: &spdy::Headers) -> Option<(Kind, u16, String)> {
    // k8s.io/api core/v1 `StreamType`, `PortHeader`, `PortForwardRequestIDHeader`; SPDY header
    // names are lowercase on the wire.
    let port: u16 = spdy::header(headers, "port")?.parse().ok()?;
    if port == 0 {
        return None;
    }
    let kind = match spdy::header(headers, "streamtype")? {
        "error" => Kind::Error,
        "data" => Kind::Data,
        _ => return None,
    };
    let request = match spdy::header(headers, "requestid") {
        Some(r) if !r.is_empty() => r.to_string(),
        // kubelet `requestID`: older clients without the header.
        _ => match kind {
            Kind::Error => id.to_string(),
            Kind::Data => id.saturating_sub(2).to_string(),
        },
    };
    Some((kind, port, request))
}

struct Streams {
    data: u32,
    error: u32,
    port: u16,
}

/// Forwards one stream pair to the pod's port, then closes the error stream and the data stream
/// (kubelet `httpStreamHandler.portForward`).
async fn forward(
    s: Streams,
    target: Option<SocketAddr>,
    pod: String,
    mut from_client: mpsc::Receiver<Bytes>,
    out: mpsc::Sender<Bytes>,
    reset: oneshot::Receiver<()>,
    frame_capacity: usize,
) {
    let port = s.port;
    let conn = match target {
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
        Err(e) => {
            let msg = format!(
                "error forwarding port {port} to pod {pod}: failed to connect to localhost:{port}: {e}"
            );
            let _ = out.send(spdy::data_frame(s.error, 0, msg.as_bytes())).await;
        }
        Ok(tcp) => {
            let _ = tcp.set_nodelay(true);
            let (mut r, mut w) = tcp.into_split();
            let to_pod = async move {
                while let Some(b) = from_client.recv().await {
                    if w.write_all(&b).await.is_err() {
                        break;
                    }
                }
                let _ = w.shutdown().await;
                std::future::pending::<()>().await;
            };
            let data = s.data;
            let out2 = out.clone();
            let from_pod = async move {
                // Read straight into the frame after its 8-byte header; hand it over uncopied.
                let cap = frame_capacity.min(spdy::MAX_DATA_LENGTH);
                let mut buf = BytesMut::new();
                loop {
                    buf.reserve(spdy::DATA_HEADER_LEN + cap);
                    buf.extend_from_slice(&[0u8; spdy::DATA_HEADER_LEN]);
                    let mut limited = (&mut r).take(cap as u64);
                    match limited.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            spdy::data_header(&mut buf[..], data, 0, n);
                            if out2.send(buf.split().freeze()).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            };
            tokio::select! {
                _ = from_pod => {}
                _ = to_pod => {}
                _ = reset => {}
            }
        }
    }
    // `defer dataStream.Close(); defer errorStream.Close()`: the error stream closes first.
    let _ = out.send(spdy::data_frame(s.error, FLAG_FIN, b"")).await;
    let _ = out.send(spdy::data_frame(s.data, FLAG_FIN, b"")).await;
}
