//! `onyx cluster status`: the node, its ports, context, data and readiness.

use std::process::ExitCode;

use super::{json, no_cluster_yet};
use crate::cli::{ClusterStatusArgs, DataFormat};
use crate::cluster::{kind, own};
use crate::docker::engine;
use crate::error::Result;
use crate::runtime::Runtime;
use crate::ui::Printer;

pub fn status(printer: &Printer, runtime: &Runtime, args: &ClusterStatusArgs) -> Result<ExitCode> {
    let name = own::checked_name(&args.target.name)?.to_string();
    let status = runtime
        .interruptible(async {
            let engine = engine::connect(&engine::EngineEnv::from_process()).await?;
            Ok(kind::status(&engine.docker, &name).await?)
        })
        .map_err(|e| no_cluster_yet(e, &name))?;
    match args.output {
        DataFormat::Json => printer.data(&json(&status))?,
        DataFormat::Text => {
            let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
            let ready = match status.ready {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            printer.data(&format!(
                "cluster:    {}\nnode:       {} ({})\nimage:      {}\nAPI server: {}\ncontext:    {}\nUI:         {}\ndata:       {}\nready:      {ready}",
                status.cluster,
                status.node,
                status.state,
                status.image,
                or_dash(&status.api_server),
                status.context,
                or_dash(&status.ui_url),
                match (&status.data_volume, &status.data_dir) {
                    (Some(v), _) => format!("volume {v}"),
                    (None, Some(d)) => d.clone(),
                    (None, None) => "-".into(),
                },
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
