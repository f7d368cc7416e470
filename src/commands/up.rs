//! `onyx up`: install or update the stack and wait until it serves. The steps are
//! [`crate::deploy`]'s; this command takes its resolved [`UpSettings`] (flags mapped in
//! `commands/settings.rs`), runs [`deploy::up`], then says how to log in and opens the browser
//! (unless `--no-browser`), keeping a `--forward` port-forward until Ctrl-C.

use std::process::ExitCode;

use crate::browser::{Opened, open_browser};
use crate::deploy::{self, Deployed};
use crate::error::Result;
use crate::runtime::Runtime;
use crate::settings::UpSettings;
use crate::ui::Printer;

pub fn run(settings: &UpSettings, printer: &Printer, runtime: &Runtime) -> Result<ExitCode> {
    let opts = &settings.deploy;
    let Deployed { target, exposed } = deploy::up(opts, printer, runtime)?;
    // Where it went, for the day-2 commands (crate::settings::Remembered); not worth failing
    // a finished `up` over.
    if let Some(path) = crate::settings::Remembered::path(opts.data_dir.as_deref())
        && let Err(e) = crate::settings::Remembered::save(&path, &opts.cluster)
    {
        printer.warn(&format!(
            "could not record where onyx deployed in {}: {e}; the day-2 commands need \
             --context/-n again",
            path.display()
        ));
    }
    let Some(exposed) = exposed else {
        let mut kubectl = String::from("kubectl");
        if let Some(k) = &opts.cluster.kubeconfig {
            kubectl.push_str(&format!(
                " --kubeconfig {}",
                crate::ui::shell_quote(&k.display().to_string())
            ));
        }
        printer.info(&format!(
            "\nOnyx is ready in namespace {ns} of context {ctx}.\n\
             Reach it with `onyx up --forward` (a port-forward on 127.0.0.1:{port} while onyx \
             runs), `{kubectl} --context {qctx} port-forward -n {qns} svc/nginx {port}:80`, or \
             your own ingress.\n\
             Log in: create an account there; the first account becomes the admin.\n\
             Chat needs an LLM provider: Admin panel → LLM, or --llm-url / --llm ollama / \
             --openai-api-key-env with --forward.",
            ns = target.namespace,
            ctx = target.context,
            qns = crate::ui::shell_quote(&target.namespace),
            qctx = crate::ui::shell_quote(&target.context),
            port = opts.port,
        ));
        return Ok(ExitCode::SUCCESS);
    };
    let url = &exposed.url;
    printer.data(url)?;
    printer.info(&format!(
        "\nOnyx is ready at {url}\n\
         Log in: create an account there; the first account becomes the admin.\n\
         Chat needs an LLM provider: Admin panel → LLM → add an OpenAI-compatible endpoint, \
         Ollama, or an API key (or pass --llm-url / --llm ollama / --openai-api-key-env to up)."
    ));
    // Headless: the URL printed above is the way in.
    if !settings.no_browser {
        match open_browser(url, &|k| std::env::var(k).ok()) {
            Opened::Browser(how) => printer.info(&format!("opened {url} with {how}")),
            Opened::Headless(why) | Opened::Failed(why) => {
                printer.info(&format!("open {url} in a browser ({why})"))
            }
        }
    }
    if let Some(forward) = exposed.forward {
        printer.info("forwarding until Ctrl-C...");
        runtime.until_ctrl_c(std::future::pending::<Result<()>>())?;
        drop(forward);
    }
    Ok(ExitCode::SUCCESS)
}
