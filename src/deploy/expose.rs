//! Step 6 of `up`: make the UI reachable on 127.0.0.1 and check that nginx itself answers there
//! before declaring success ([`expose`]); then give Onyx the LLM provider asked for
//! ([`configure_llm`]).

use std::time::Duration;

use crate::error::Result;
use crate::kube::Target;
use crate::kube::forward::{self, PortForward};
use crate::llm::ProviderRequest;
use crate::ui::Printer;

/// The UI, reachable here.
pub struct Exposed {
    pub url: String,
    /// The port-forward serving it on another cluster (kept while this value lives).
    pub forward: Option<PortForward>,
}

/// Own cluster: the port was mapped to the gateway's node port when the node was made. Another
/// cluster: a port-forward (kept while onyx runs) with `--forward`; without it, nothing is
/// exposed (`None`).
pub async fn expose(
    target: &Target,
    port: u16,
    own: bool,
    forward: bool,
) -> Result<Option<Exposed>> {
    let handle = if own {
        None
    } else if forward {
        Some(
            forward::start(
                target.client.clone(),
                forward::ForwardTarget::gateway(&target.namespace),
                port,
                forward::ForwardOptions::default(),
            )
            .await?,
        )
    } else {
        return Ok(None);
    };
    let url = format!("http://localhost:{port}");
    forward::check_gateway(&url, Duration::from_secs(60)).await?;
    Ok(Some(Exposed {
        url,
        forward: handle,
    }))
}

/// Configure the LLM provider through Onyx's API at the exposed URL, when one was asked for.
pub async fn configure_llm(
    printer: &Printer,
    target: &Target,
    request: Option<&ProviderRequest>,
    exposed: Option<&Exposed>,
) -> Result<()> {
    if let (Some(request), Some(exposed)) = (request, exposed) {
        let store = crate::llm::SecretStore::new(target.client.clone(), &target.namespace);
        let done = crate::llm::configure(&exposed.url, request, &store).await?;
        printer.info(&format!("LLM provider configured: {done:?}"));
    }
    Ok(())
}
