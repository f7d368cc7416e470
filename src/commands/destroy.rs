//! `onyx destroy`: remove the stack's objects. The volumes (all chats and documents) and the
//! passwords go only with `--data`. Asks first unless `--yes`; without a terminal to ask on and
//! without `--yes` it refuses.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use crate::cli::DestroyArgs;
use crate::error::{Error, Result};
use crate::kube::stack;
use crate::settings::Settings;
use crate::ui::Printer;

pub fn run(settings: &Settings, printer: &Printer, args: &DestroyArgs) -> Result<ExitCode> {
    let runtime = super::runtime()?;
    let target = runtime.block_on(super::up::target(settings, false))?;
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
        eprint!("{question}");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            printer.info("nothing removed");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let n = runtime.block_on(stack::remove(&target, args.data))?;
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
