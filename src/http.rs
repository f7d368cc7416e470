//! What onyx's own HTTP clients share: the gateway check ([`crate::kube::forward`]) and the LLM
//! setup ([`crate::llm`]) both talk plain HTTP to the stack on 127.0.0.1 and both report a failed
//! request, so the client they build and the way an error is described live here, not in either.

use std::time::Duration;

/// A client for the stack's gateway: each request bounded to `timeout`, never through a proxy
/// (the gateway is on 127.0.0.1 or a cluster address a proxy would not reach).
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest has no crypto provider of its own (see Cargo.toml): the process-wide one.
    crate::init_tls();
    reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
}

/// reqwest's Display hides the cause ("error sending request"); show the chain.
pub fn describe_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_names_its_cause() {
        // A port just freed: nothing listens there, so the connect is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = client(Duration::from_secs(3))
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        let shown = describe_error(&err);
        assert!(shown.starts_with(&err.to_string()), "{shown}");
        assert!(shown.len() > err.to_string().len(), "no cause in {shown:?}");
        assert!(shown.to_lowercase().contains("refused"), "{shown}");
    }
}
