//! `onyx destroy`: remove the stack's objects. The volumes (all chats and documents) and the
//! passwords go only with `--data`, and then every claim that will be deleted is listed first,
//! with its size when the cluster reports it. Asks first unless `--yes`; without a terminal to
//! ask on and without `--yes` it refuses (after the list, so a script's log shows what it kept).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use crate::cli::DestroyArgs;
use crate::error::{Error, Result};
use crate::kube::stack::{self, Claim};
use crate::runtime::Runtime;
use crate::settings::ClusterSettings;
use crate::ui::Printer;

pub fn run(
    settings: &ClusterSettings,
    printer: &Printer,
    runtime: &Runtime,
    args: &DestroyArgs,
) -> Result<ExitCode> {
    let target = runtime.block_on(crate::cluster::own::target(&settings.cluster, false))?;
    if args.data {
        let claims = runtime.block_on(async { Ok(stack::claims(&target).await?) })?;
        printer.info(&claim_list(&claims, &target.namespace));
    }
    if !args.yes {
        let what = if args.data {
            "the Onyx stack AND ITS DATA (every chat, document and account)"
        } else {
            "the Onyx stack (its data volumes are kept)"
        };
        let question = format!(
            "Remove {what} from namespace {} of context {}? [y/N] ",
            target.namespace, target.context
        );
        if !std::io::stdin().is_terminal() {
            return Err(Error::input(
                "onyx destroy needs a confirmation and there is no terminal to ask on",
                "pass --yes to confirm (add --data to delete the volumes too)",
            ));
        }
        printer.prompt(&question)?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            printer.info("nothing removed");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let n = runtime.block_on(async { Ok(stack::remove(&target, args.data).await?) })?;
    // On onyx's own cluster the passwords are also kept beside the data: they go with it.
    let own = settings.cluster.context.is_none() && settings.cluster.kubeconfig.is_none();
    if args.data && own {
        runtime.block_on(async {
            let engine =
                crate::docker::engine::connect(&crate::docker::engine::EngineEnv::from_process())
                    .await?;
            let node = crate::cluster::node_name(crate::cluster::CLUSTER_NAME);
            crate::cluster::credentials::remove(&engine.docker, &node, &target.namespace).await
        })?;
    }
    printer.info(&if args.data {
        format!("removed {n} objects, data included")
    } else {
        format!(
            "removed {n} objects; the data volumes are kept (`onyx up` uses them again; \
             `onyx destroy --data` deletes them)"
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// What `--data` deletes: each claim with its size (the cluster's figure, else what was asked
/// for, marked so), and how to keep a copy first.
fn claim_list(claims: &[Claim], namespace: &str) -> String {
    if claims.is_empty() {
        return format!("--data: namespace {namespace} has no volumes of the stack to delete");
    }
    let width = claims.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = format!(
        "--data deletes these volumes in namespace {namespace}, and with them every chat, \
         document and account:"
    );
    for c in claims {
        let size = match (&c.capacity, &c.requested) {
            (Some(cap), _) => cap.clone(),
            (None, Some(req)) => format!("{req} requested (the cluster reports no size yet)"),
            (None, None) => "size not reported".into(),
        };
        out.push_str(&format!("\n  {:<width$}  {size}", c.name));
    }
    out.push_str("\n(`onyx backup -o FILE` first keeps a copy of the database)");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_claim_with_the_size_the_cluster_reports() {
        let c = |name: &str, cap: Option<&str>, req: Option<&str>| Claim {
            name: name.into(),
            capacity: cap.map(Into::into),
            requested: req.map(Into::into),
        };
        let text = claim_list(
            &[
                c("postgresql-data", Some("10Gi"), Some("10Gi")),
                c("vespa-data-vespa-0", None, Some("30Gi")),
                c("x", None, None),
            ],
            "onyx",
        );
        assert!(text.contains("\n  postgresql-data     10Gi\n"), "{text}");
        assert!(
            text.contains("vespa-data-vespa-0  30Gi requested (the cluster reports no size"),
            "{text}"
        );
        assert!(
            text.contains("x                   size not reported"),
            "{text}"
        );
        assert!(claim_list(&[], "onyx").contains("no volumes"));
    }
}
