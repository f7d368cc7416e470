//! Draws the pipelined cold start ([`crate::deploy::pipeline`]): a line per image when it
//! downloads, is downloaded (the engine unpacks it), is in the engine (with its size, or "already present") and is in the node; a line
//! per service when it waits for its images, waits for the layers before it, and starts; the
//! node's boot; each line led by the overall elapsed time. Plain lines (none with --quiet): the
//! node's boot draws its own spinner at the same time, and two drawers on one terminal garble
//! each other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::deploy::pipeline::{self, Stage};
use crate::docker::{ImageEvent, Reporter};

use super::Printer;

#[derive(Default)]
struct ImageSeen {
    present: bool,
    bytes: u64,
}

/// Both reporters of the pipeline: its stages and the engine's byte counts.
pub struct PipelineProgress {
    printer: Printer,
    images: Mutex<HashMap<String, ImageSeen>>,
    services: Mutex<HashMap<String, Stage>>,
}

impl PipelineProgress {
    pub fn new(printer: &Printer) -> PipelineProgress {
        PipelineProgress {
            printer: printer.clone(),
            images: Mutex::default(),
            services: Mutex::default(),
        }
    }

    fn line(&self, elapsed: Duration, text: &str) {
        self.printer.info(&format!("[{}] {text}", human(elapsed)));
    }
}

/// `12.3s`, `2m05s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f32())
    }
}

fn size(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

impl pipeline::Reporter for PipelineProgress {
    fn image(&self, image: &str, stage: &Stage, elapsed: Duration) {
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        let seen = images.entry(image.to_string()).or_default();
        let text = match stage {
            Stage::Fetching => "downloading".to_string(),
            Stage::Unpacking => "downloaded; the engine unpacks it".to_string(),
            Stage::InEngine if seen.present => "in the engine (already present)".to_string(),
            Stage::InEngine => format!("in the engine ({})", size(seen.bytes)),
            Stage::Importing => {
                seen.present = false;
                seen.bytes = 0;
                return;
            }
            Stage::InNode if seen.present => "in the node (already present)".to_string(),
            Stage::InNode => format!("in the node ({} streamed)", size(seen.bytes)),
            _ => return,
        };
        if matches!(stage, Stage::InEngine) {
            seen.present = false;
            seen.bytes = 0;
        }
        drop(images);
        self.line(elapsed, &format!("{image}: {text}"));
    }

    fn service(&self, service: &str, stage: &Stage, elapsed: Duration) {
        let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        if services.get(service) == Some(stage) {
            return;
        }
        services.insert(service.to_string(), stage.clone());
        drop(services);
        let text = match stage {
            Stage::WaitingForImages(images) => {
                format!("waiting for its image {}", images.join(", "))
            }
            Stage::WaitingForLayer => "waiting for the services it starts after".to_string(),
            Stage::Starting => "applied, starting".to_string(),
            _ => return,
        };
        self.line(elapsed, &format!("{service}: {text}"));
    }

    fn node(&self, booted: bool, elapsed: Duration) {
        self.line(
            elapsed,
            if booted {
                "node: up, the stack rendered; images go in as they arrive"
            } else {
                "node: booting while the images download"
            },
        );
    }
}

impl Reporter for PipelineProgress {
    fn image(&self, image: &str, event: ImageEvent) {
        match event {
            ImageEvent::Skipped => {
                let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
                images.entry(image.to_string()).or_default().present = true;
            }
            ImageEvent::Progress { done, total, .. } => {
                let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
                images.entry(image.to_string()).or_default().bytes = total.max(done);
            }
            ImageEvent::Retry {
                attempt,
                wait,
                reason,
            } => self.printer.info(&format!(
                "{image}: attempt {attempt} failed ({reason}); retrying in {}s",
                wait.as_secs_f32()
            )),
            ImageEvent::Failed(e) => self.printer.info(&format!("{image}: failed: {e}")),
            ImageEvent::Start | ImageEvent::Done => {}
        }
    }

    fn message(&self, text: &str) {
        self.printer.info(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_reads_as_seconds_then_minutes() {
        assert_eq!(human(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human(Duration::from_secs(125)), "2m05s");
    }
}
