//! `onyx render`: print the stack's objects exactly as a deploy would apply them, for kubectl,
//! GitOps or any other cluster.

use std::process::ExitCode;

use crate::cli::{ManifestFormat, RenderArgs};
use crate::error::{Error, Result};
use crate::host::HostFacts;
use crate::runtime::Runtime;
use crate::settings::StackSettings;
use crate::stack::profile;
use crate::stack::render::{self, RenderOptions};
use crate::stack::secrets::Credentials;
use crate::ui::Printer;

pub fn run(
    settings: &StackSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &RenderArgs,
) -> Result<ExitCode> {
    // A named profile is rendered as named: the output may be for any cluster, so this machine's
    // size never refuses it (only `up` refuses); it is warned about, with the numbers, as README's
    // Profiles section says. Without one, sized exactly as `up` sizes it, so that render prints
    // what up would apply; on a machine too small even for that, the smallest profile with a
    // warning.
    let host = HostFacts::detect();
    let sizing =
        crate::sizing::sizing_machine(&host, crate::sizing::engine_facts(runtime).as_ref());
    let (choice, refusal) = profile::choose_for_output(sizing.capacity(), settings.profile);
    if let Some(r) = refusal {
        printer.warn(&format!(
            "{} has {}; rendering the {} profile, which needs {}: `onyx up` would refuse it here \
             (fine when the output is for a bigger cluster)",
            sizing.source, r.have, choice.profile.name, r.need
        ));
    }
    // Indexing as asked, else the profile's default (the output may be for any cluster, so no
    // machine's size decides it; `up` checks it against the machine).
    let indexing =
        crate::stack::indexing::resolve(choice.profile, None, args.stack.indexing, None, true)
            .map(|r| r.indexing)
            .unwrap_or_else(|_| unreachable!("without a capacity nothing is refused"));
    let web_url = match &args.url {
        Some(url) => validate_url(url)?,
        None => format!("http://localhost:{}", settings.port),
    };
    let credentials = match (&args.reuse_secrets, args.skip_secrets) {
        (_, true) => None,
        (Some(path), false) => {
            let (credentials, fresh) = Credentials::from_file_noting(path)?;
            for name in fresh {
                // Fresh values on every render would change `checksum/config` and restart the
                // API and the workers on each apply, and void pending reset/verify links.
                printer.warn(&format!(
                    "{} has no Secret {name}: it got new values, and will again on every render; \
                     add it to the file (`kubectl get secret {name} -o yaml`, or take it from this \
                     render) to keep them",
                    path.display()
                ));
            }
            Some(credentials)
        }
        (None, false) => Some(Credentials::generate()),
    };
    let objects = render::render(&RenderOptions {
        profile: choice.profile,
        namespace: settings.cluster.namespace.as_deref(),
        web_url,
        credentials: credentials.as_ref(),
        gateway_node_port: args.node_port,
        indexing,
        app: render::AppOptions {
            telemetry: settings.telemetry,
            // Rendered for any cluster: the online form (README says how to go offline).
            hub_offline: false,
        },
    });
    let text = match args.output {
        ManifestFormat::Yaml => render::to_yaml(&objects),
        ManifestFormat::Json => render::to_json(&objects),
    };
    printer.data(&text)?;
    if credentials.is_some() {
        printer.info(&format!(
            "rendered {} objects ({} profile); the output holds the stack's credentials: keep it private",
            objects.len(),
            choice.profile.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn validate_url(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(url.trim_end_matches('/').to_string())
        }
        _ => Err(Error::input(
            format!("--url {url:?} is not an http(s) URL"),
            "give the full URL users open, e.g. --url https://onyx.example.com",
        )),
    }
}
