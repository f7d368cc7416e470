//! The terminal: the only place that writes to it. Data goes to stdout; messages, warnings and
//! hints go to stderr, coloured only when allowed (`--no-color`, `NO_COLOR`, not a terminal).
//! Progress of library code arrives through [`crate::docker::Reporter`] and is drawn here with
//! indicatif, hidden when stderr is not a terminal or with --quiet/-v.
//!
//! A closed or full stderr (`onyx up 2>&1 | head -1`, `2>/dev/full`) is never a failure: messages
//! that cannot be written are dropped (std's `eprintln!` would panic). Every message passes
//! through [`Invocation::complete`], so an onyx command a hint names repeats the
//! `--context`/`--kubeconfig`/`-n` the user gave and can be run as printed.

mod echo;
pub mod hints;
pub mod pipeline;

pub use pipeline::PipelineProgress;

use std::io::{IsTerminal, Write};

pub use hints::{Invocation, plural, shell_quote};

/// How much to say on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    Trace,
}

/// Writes data and messages the way the settings say.
#[derive(Debug, Clone)]
pub struct Printer {
    pub verbosity: Verbosity,
    color: bool,
    /// The cluster flags of this run, repeated in the onyx commands hints name.
    invocation: Invocation,
}

/// One line on stderr; a stderr that is closed or full drops it (never a panic).
pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

/// Text on stderr without a newline (a question); dropped when stderr is closed.
pub fn stderr_text(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

const BOLD: &str = "\x1b[1m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

impl Printer {
    /// For a run given these cluster flags (repeated in the commands hints name); colour only
    /// when `color` allows it and stderr is a terminal.
    pub fn new(verbosity: Verbosity, color: bool, invocation: Invocation) -> Printer {
        Printer {
            verbosity,
            color: color && std::io::stderr().is_terminal(),
            invocation,
        }
    }

    /// For errors printed before settings exist (bad flags, bad config).
    pub fn plain(color_allowed: bool) -> Printer {
        Printer {
            verbosity: Verbosity::Normal,
            color: color_allowed && std::io::stderr().is_terminal(),
            invocation: Invocation::default(),
        }
    }

    /// `text` with every onyx command it names made runnable for this invocation.
    pub fn runnable(&self, text: &str) -> String {
        self.invocation.complete(text)
    }

    /// The cluster flags of this run.
    pub fn invocation(&self) -> &Invocation {
        &self.invocation
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// Data for scripts and pipes: stdout, always.
    pub fn data(&self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// A yes/no question on stderr, the answer typed on the same line (shown even with
    /// --quiet: the command waits for it).
    pub fn prompt(&self, question: &str) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        err.write_all(question.as_bytes())?;
        err.flush()
    }

    /// A progress or status line (hidden with --quiet).
    pub fn info(&self, text: &str) {
        if self.verbosity > Verbosity::Quiet {
            stderr_line(&self.runnable(text));
        }
    }

    pub fn warn(&self, text: &str) {
        if self.verbosity > Verbosity::Quiet {
            stderr_line(&format!(
                "{} {}",
                self.paint(YELLOW, "warning:"),
                self.runnable(text)
            ));
        }
    }

    /// An error and what to do about it (always shown).
    pub fn error(&self, text: &str, hint: Option<&str>) {
        stderr_line(&format!(
            "{} {}",
            self.paint(&format!("{BOLD}{RED}"), "error:"),
            self.runnable(text)
        ));
        if let Some(hint) = hint {
            stderr_line(&format!(
                "{} {}",
                self.paint(CYAN, "hint:"),
                self.runnable(hint)
            ));
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(BOLD, text)
    }
}

/// Draws image progress: one indicatif bar per image on a terminal; plain lines otherwise (none
/// with --quiet).
pub struct ImageProgress {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
    printer: Printer,
    /// Bars drawn (a terminal, not quiet); else plain lines.
    drawn: bool,
    /// What the bars say when done: "pulled", "saved", "loaded".
    verb: &'static str,
}

impl ImageProgress {
    pub fn new(printer: &Printer, verb: &'static str) -> ImageProgress {
        let drawn = printer.verbosity == Verbosity::Normal && std::io::stderr().is_terminal();
        let target = if drawn {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        };
        ImageProgress {
            multi: indicatif::MultiProgress::with_draw_target(target),
            bars: Default::default(),
            printer: printer.clone(),
            drawn,
            verb,
        }
    }

    fn bar(&self, image: &str) -> indicatif::ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.entry(image.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(indicatif::ProgressBar::new(0));
                // No bar until a size is known (indicatif draws 0 of 0 as full).
                bar.set_style(style("{spinner} {prefix:40!} {msg}"));
                bar.set_prefix(image.to_string());
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            })
            .clone()
    }

    /// Leave the finished bars on screen and the cursor below them, so what comes next (a
    /// summary, an error) starts on a line of its own.
    pub fn finish(self) {
        let ImageProgress {
            multi, bars, drawn, ..
        } = self;
        for bar in bars
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_values()
        {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
        // indicatif leaves the cursor at the end of the last bar's line.
        if drawn && !multi.is_hidden() {
            drop(multi);
            stderr_line("");
        }
    }

    fn line(&self, text: &str) {
        if !self.drawn {
            self.printer.info(text);
        }
    }
}

fn style(template: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}

impl crate::docker::Reporter for ImageProgress {
    fn image(&self, image: &str, event: crate::docker::ImageEvent) {
        use crate::docker::ImageEvent as E;
        let bar = self.bar(image);
        match event {
            E::Start => bar.set_message("starting"),
            E::Progress {
                done,
                total,
                layers_done,
                layers,
            } => {
                if total > 0 && bar.length() == Some(0) {
                    bar.set_style(
                        style(
                            "{spinner} {prefix:40!} {bar:24} {bytes:>10}/{total_bytes:<10} {msg}",
                        )
                        .progress_chars("=> "),
                    );
                }
                bar.set_length(total);
                bar.set_position(done);
                if layers > 0 {
                    bar.set_message(format!("{layers_done}/{layers} layers"));
                }
            }
            E::Retry {
                attempt,
                wait,
                reason,
            } => {
                let text = format!(
                    "{image}: attempt {attempt} failed ({reason}); retrying in {}s",
                    wait.as_secs_f32()
                );
                bar.set_message(format!("retrying in {:.0}s", wait.as_secs_f32()));
                tracing::debug!("{text}");
                self.line(&text);
            }
            E::Skipped => {
                bar.finish_with_message("already present");
                self.line(&format!("{image}: already present"));
            }
            E::Done => {
                bar.finish_with_message(self.verb);
                self.line(&format!("{image}: {}", self.verb));
            }
            E::Failed(e) => {
                bar.abandon_with_message("failed");
                self.line(&format!("{image}: failed: {e}"));
            }
        }
    }

    fn message(&self, text: &str) {
        if self.drawn {
            let _ = self.multi.println(text);
        } else {
            self.printer.info(text);
        }
    }
}

/// Draws the cluster's boot: a spinner for the running step on a terminal, one line per finished
/// step otherwise (none with --quiet).
pub struct StepProgress {
    bar: std::sync::Mutex<Option<(indicatif::ProgressBar, std::time::Instant)>>,
    printer: Printer,
    drawn: bool,
}

impl StepProgress {
    pub fn new(printer: &Printer) -> StepProgress {
        StepProgress {
            bar: std::sync::Mutex::new(None),
            printer: printer.clone(),
            drawn: printer.verbosity == Verbosity::Normal && std::io::stderr().is_terminal(),
        }
    }

    /// Clear a spinner left running (after an error or Ctrl-C).
    pub fn finish(self) {
        if let Some((bar, _)) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }

    fn end(&self, line: String) {
        let taken = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take();
        match taken {
            Some((bar, started)) => {
                bar.finish_and_clear();
                let secs = started.elapsed().as_secs_f32();
                self.printer.info(&if secs >= 1.0 {
                    format!("{line} ({secs:.0}s)")
                } else {
                    line
                });
            }
            None => self.printer.info(&line),
        }
    }
}

impl crate::cluster::StepReporter for StepProgress {
    fn step(&self, step: crate::cluster::Step, event: crate::cluster::StepEvent) {
        use crate::cluster::StepEvent as E;
        match event {
            E::Start => {
                let bar = if self.drawn {
                    let bar = indicatif::ProgressBar::new_spinner();
                    bar.set_style(style("{spinner} {msg}"));
                    bar.set_message(step.title().to_string());
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    bar
                } else {
                    indicatif::ProgressBar::hidden()
                };
                *self.bar.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((bar, std::time::Instant::now()));
            }
            E::Done => self.end(format!("{} {step}", self.printer.paint(CYAN, "✓"))),
            E::Skipped(why) => self.end(format!("- {step}: {why}")),
            E::Warned(why) => {
                self.end(format!("{} {step}: {why}", self.printer.paint(YELLOW, "!")))
            }
            E::Failed(e) => {
                let first = e.lines().next().unwrap_or_default().to_string();
                self.end(format!("{} {step}: {first}", self.printer.paint(RED, "✗")));
            }
        }
    }

    fn message(&self, text: &str) {
        self.printer.info(text);
    }
}

/// Draws the rollout: one spinner line per service (phase and elapsed time) on a terminal; plain
/// lines `service: phase (elapsed)` otherwise (none with --quiet).
pub struct RolloutProgress {
    multi: indicatif::MultiProgress,
    /// In screen order (top to bottom): ended and dropped in that order, so that indicatif
    /// never redraws the block around a line that left it.
    bars: std::sync::Mutex<Vec<(String, indicatif::ProgressBar)>>,
    printer: Printer,
    drawn: bool,
    /// While the lines are live, Ctrl-C must not make the terminal print `^C` under them.
    _echo: Option<echo::EchoCtlOff>,
}

impl RolloutProgress {
    /// One line per service, in `services` order.
    pub fn new(printer: &Printer, services: &[&str]) -> RolloutProgress {
        let drawn = printer.verbosity == Verbosity::Normal && std::io::stderr().is_terminal();
        let target = if drawn {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        };
        let multi = indicatif::MultiProgress::with_draw_target(target);
        let mut bars = Vec::new();
        for s in services {
            // A bar dropped unfinished (Ctrl-C drops the wait) keeps its last state on screen:
            // indicatif's default clears its line, which wiped the unfinished services and,
            // the lines below moving up, drew a finished one twice.
            let bar = multi.add(
                indicatif::ProgressBar::new_spinner()
                    .with_finish(indicatif::ProgressFinish::Abandon),
            );
            bar.set_style(style("{spinner} {prefix:24!} {msg} ({elapsed})"));
            bar.set_prefix(s.to_string());
            bar.set_message("applied");
            if drawn {
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
            }
            bars.push((s.to_string(), bar));
        }
        RolloutProgress {
            multi,
            bars: std::sync::Mutex::new(bars),
            printer: printer.clone(),
            drawn,
            _echo: drawn.then(echo::EchoCtlOff::new),
        }
    }
}

impl crate::kube::rollout::Reporter for RolloutProgress {
    fn phase(
        &self,
        service: &str,
        phase: &crate::kube::rollout::Phase,
        elapsed: std::time::Duration,
    ) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, bar)) = bars.iter().find(|(name, _)| name == service) {
            if *phase == crate::kube::rollout::Phase::Ready {
                bar.set_style(style("  {prefix:24!} {msg}"));
                bar.finish_with_message(format!("ready in {:.1}s", elapsed.as_secs_f32()));
            } else {
                bar.set_message(phase.to_string());
            }
        }
        if !self.drawn {
            self.printer.info(&format!(
                "{service}: {phase} ({:.1}s)",
                elapsed.as_secs_f32()
            ));
        }
    }

    fn finish(&self) {
        self.end_bars();
        // The finished lines stay on screen; what follows starts below them.
        if self.drawn && !self.multi.is_hidden() {
            let _ = self.multi.println("");
        }
    }
}

impl RolloutProgress {
    /// Every line keeps its last state (ready, or the phase it was in), top to bottom.
    fn end_bars(&self) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        for (_, bar) in bars.iter() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

/// Ctrl-C drops the wait without [`Reporter::finish`](crate::kube::rollout::Reporter::finish).
/// The screen already shows every line's last state, so nothing is drawn again: the terminal's
/// own `^C` echo has moved the cursor where indicatif can't know (a full-width last line wraps),
/// and a redraw from there wiped the unfinished lines and drew the top one twice. Drawing stops,
/// what follows starts on a line of its own, and the bars are let go top to bottom.
impl Drop for RolloutProgress {
    fn drop(&mut self) {
        let bars = std::mem::take(self.bars.get_mut().unwrap_or_else(|e| e.into_inner()));
        if bars.iter().any(|(_, b)| !b.is_finished()) {
            self.multi
                .set_draw_target(indicatif::ProgressDrawTarget::hidden());
            for (_, bar) in &bars {
                bar.abandon();
            }
            if self.drawn {
                stderr_line("");
            }
        }
        for (_, bar) in bars {
            drop(bar);
        }
    }
}
