//! `onyx cluster list`: the kind-compatible clusters the engine has (onyx's and kind's).

use std::process::ExitCode;

use super::json;
use crate::cli::{ClusterListArgs, DataFormat};
use crate::cluster::kind;
use crate::docker::engine;
use crate::error::Result;
use crate::runtime::Runtime;
use crate::ui::Printer;

pub fn list(printer: &Printer, runtime: &Runtime, args: &ClusterListArgs) -> Result<ExitCode> {
    let clusters = runtime.interruptible(async {
        let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
        Ok(kind::list(&engine.docker).await?)
    })?;
    match args.output {
        DataFormat::Json => printer.data(&json(&clusters))?,
        DataFormat::Text if clusters.is_empty() => printer.info("no clusters"),
        DataFormat::Text => {
            let port = |p: Option<u16>| p.map_or("-".to_string(), |p| p.to_string());
            let mut text = format!(
                "{:<24} {:<10} {:<9} {:<8} {:<6}\n",
                "NAME", "STATE", "API PORT", "UI PORT", "MADE BY"
            );
            for c in &clusters {
                text.push_str(&format!(
                    "{:<24} {:<10} {:<9} {:<8} {:<6}\n",
                    c.name,
                    c.state,
                    port(c.api_port),
                    port(c.ui_port),
                    if c.onyx { "onyx" } else { "kind" }
                ));
            }
            printer.data(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
