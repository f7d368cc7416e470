//! `onyx up`: install or update the stack and wait until it serves. The steps are
//! [`crate::deploy`]'s; this command turns its flags into [`UpOptions`], runs [`deploy::up`],
//! then says how to log in and opens the browser (unless `--no-browser`), keeping a
//! `--forward` port-forward until Ctrl-C.

use std::process::ExitCode;

use crate::browser::{Opened, open_browser};
use crate::cli::{LlmArgs, UpArgs};
use crate::deploy::{self, Deployed, UpOptions};
use crate::error::Result;
use crate::llm::LlmChoice;
use crate::settings::Settings;
use crate::ui::Printer;

pub fn run(settings: &Settings, printer: &Printer, args: &UpArgs) -> Result<ExitCode> {
    let runtime = super::runtime()?;
    let opts = UpOptions {
        profile: settings.profile,
        force: settings.force,
        indexing: args.stack.indexing,
        port: settings.port,
        cluster: settings.connect_options(),
        timeout: args.timeout,
        bundle: args.bundle.clone(),
        registry_mirror: args.registry_mirror.clone(),
        forward: args.forward,
        no_backup: args.no_backup,
        data_dir: args.data_dir.clone(),
        llm: llm_choice(&args.llm),
    };
    let Deployed { target, exposed } = deploy::up(&opts, printer, &runtime)?;
    let Some(exposed) = exposed else {
        let mut kubectl = String::from("kubectl");
        if let Some(k) = &settings.kubeconfig {
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
            port = settings.port,
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
    if !args.no_browser {
        match open_browser(url, &|k| std::env::var(k).ok()) {
            Opened::Browser(how) => printer.info(&format!("opened {url} with {how}")),
            Opened::Headless(why) | Opened::Failed(why) => {
                printer.info(&format!("open {url} in a browser ({why})"))
            }
        }
    }
    if let Some(forward) = exposed.forward {
        printer.info("forwarding until Ctrl-C...");
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        drop(forward);
    }
    Ok(ExitCode::SUCCESS)
}

/// The choice the LLM flags make, if any (clap allows at most one of them).
fn llm_choice(args: &LlmArgs) -> Option<LlmChoice> {
    let model = args.llm_model.clone();
    if let Some(url) = &args.llm_url {
        Some(LlmChoice::OpenAiCompatible {
            url: url.clone(),
            model,
        })
    } else if args.llm.is_some() {
        Some(LlmChoice::Ollama { model })
    } else {
        args.openai_api_key_env
            .as_ref()
            .map(|key_env| LlmChoice::OpenAi {
                key_env: key_env.clone(),
                model,
            })
    }
}
