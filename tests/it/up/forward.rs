//! `up --forward` on a cluster onyx did not make: the gateway exposed on 127.0.0.1, checked, and
//! served until Ctrl-C; a taken port refused at once.

use super::*;

/// On a cluster onyx did not make, `--forward` exposes the gateway on 127.0.0.1:--port through a
/// port-forward, checks that nginx answers there before saying the URL, and keeps forwarding
/// until Ctrl-C.
#[tokio::test(flavor = "multi_thread")]
async fn forward_exposes_the_gateway_checks_it_and_serves_until_ctrl_c() {
    let e = env().await;
    let nginx = stand_in_nginx::StandIn::nginx().await;
    e.sim.forward_port(
        Target::labels("app.kubernetes.io/name=nginx"),
        8080,
        nginx.addr,
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut cmd = command(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--timeout",
            "60s",
            "--forward",
            "--port",
            &port,
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("onyx starts");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line),
    )
    .await
    .expect("a URL within 60 s")
    .unwrap();
    assert_eq!(line.trim(), format!("http://localhost:{port}"));
    // The gateway check went through the forward to nginx, and a new request does too.
    let seen = nginx.requests();
    assert!(seen >= 1, "the gateway check did not reach nginx");
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap()))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut s,
        b"GET /nginx-health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_string(&mut s, &mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(nginx.requests() > seen);
    // Ctrl-C ends it cleanly.
    let pid = child.id().unwrap() as i32;
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("onyx stops on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `--forward` on a taken port is refused before anything is applied.
#[tokio::test(flavor = "multi_thread")]
async fn forward_on_a_taken_port_is_refused_at_once() {
    let e = env().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = onyx(
        &e,
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--forward",
            "--port",
            &port,
        ],
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{run:?}"
    );
    // At once: before anything was written, not even the namespace.
    assert!(
        e.sim.object("v1", "Namespace", "", NS).is_none(),
        "the namespace was made before the port was checked"
    );
    assert!(
        e.sim.object("apps/v1", "Deployment", NS, "nginx").is_none(),
        "applied before the port was checked"
    );
}
