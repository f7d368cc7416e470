//! The stand-in upstreams nginx forwards to: a small HTTP/1.1 server on 127.0.0.1 for the API and
//! one for the web server, each recording every request it receives and answering with a body that
//! names it, streams held back at a gate so a test sees whether nginx buffers.

use super::*;

/// One request as an upstream received it.
#[derive(Debug, Clone)]
pub(super) struct Received {
    pub(super) method: String,
    /// The request target: path plus query.
    pub(super) target: String,
    pub(super) version: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Received {
    /// The value of a header that must be present exactly once.
    pub(super) fn header(&self, name: &str) -> &str {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            values.len(),
            1,
            "expected exactly one {name} header upstream, got {values:?} in {self:#?}"
        );
        values[0]
    }
}

/// First and second part of the streamed responses.
pub(super) const STREAM_FIRST: &str = "data: first-token\n\n";
pub(super) const STREAM_SECOND: &str = "data: second-token\n\n";

/// A small HTTP/1.1 server on 127.0.0.1 that records every request and answers with a body that
/// names it. `/stream` and `/stream-unframed` answer with a stream: the first part at once, the
/// second only after [`StandIn::release_stream`]. `/stream` is chunked (what uvicorn sends to an
/// HTTP/1.1 client); `/stream-unframed` has neither a length nor chunks and ends when the
/// connection closes, which is the framing nginx holds back when it buffers.
pub(super) struct StandIn {
    pub(super) name: &'static str,
    pub(super) addr: SocketAddr,
    pub(super) requests: Arc<Mutex<Vec<Received>>>,
    pub(super) release: Sender<()>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) acceptor: Option<JoinHandle<()>>,
}

impl StandIn {
    pub(super) fn start(name: &'static str) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
        let addr = listener.local_addr().expect("stand-in address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = mpsc::channel();
        let gate = Arc::new(Mutex::new(gate));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (requests, gate) = (Arc::clone(&requests), Arc::clone(&gate));
                    thread::spawn(move || {
                        // A failed exchange shows up as a wrong response in the test itself.
                        let _ = serve(name, conn, &requests, &gate);
                    });
                }
            })
        };
        StandIn {
            name,
            addr,
            requests,
            release,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub(super) fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// The only request received so far.
    pub(super) fn only_request(&self) -> Received {
        let requests = self.requests();
        assert_eq!(
            requests.len(),
            1,
            "{} stand-in: expected exactly one request, got {requests:#?}",
            self.name
        );
        requests.into_iter().next().unwrap()
    }

    /// Let a stream response send its second part.
    pub(super) fn release_stream(&self) {
        self.release.send(()).expect("stand-in stream gate closed");
    }

    pub(super) fn body(&self) -> String {
        format!("{} stand-in", self.name)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

pub(super) fn serve(
    name: &str,
    conn: TcpStream,
    requests: &Mutex<Vec<Received>>,
    gate: &Mutex<Receiver<()>>,
) -> io::Result<()> {
    conn.set_read_timeout(Some(TIMEOUT))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (n, v) = header.split_once(':').unwrap_or((header, ""));
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse::<usize>().unwrap_or(0));
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let path = target.clone();
    requests.lock().unwrap().push(Received {
        method,
        target,
        version,
        headers,
        body,
    });

    let mut out = conn;
    let chunked = path == "/stream";
    if chunked || path == "/stream-unframed" {
        let framing = if chunked {
            "Transfer-Encoding: chunked\r\n"
        } else {
            ""
        };
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{framing}\
             Connection: close\r\n\r\n"
        )?;
        write_part(&mut out, chunked, STREAM_FIRST)?;
        out.flush()?;
        // Hold the second part until the test has seen the first one arrive through nginx. Wait
        // longer than the test does, so its own timeout reports the buffering; dropping the
        // stand-in closes the gate at once. Without a release, end without the second part.
        if gate.lock().unwrap().recv_timeout(2 * TIMEOUT).is_err() {
            return out.shutdown(Shutdown::Both);
        }
        write_part(&mut out, chunked, STREAM_SECOND)?;
        if chunked {
            out.write_all(b"0\r\n\r\n")?;
        }
    } else {
        let body = format!("{name} stand-in");
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )?;
    }
    out.flush()?;
    out.shutdown(Shutdown::Write)
}

pub(super) fn write_part(out: &mut impl Write, chunked: bool, data: &str) -> io::Result<()> {
    if chunked {
        write!(out, "{:x}\r\n{data}\r\n", data.len())
    } else {
        out.write_all(data.as_bytes())
    }
}
