//! Showing a run: progress bars on a terminal, plain lines otherwise, JSON
//! lines with `--json`. All of it goes to stderr except JSON events, which
//! are data and go to stdout.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use deploy_core::event::{Event, EventSink};
use deploy_core::target::OutputStream;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// JSON lines on stdout, one event each.
pub(crate) struct JsonLines;

impl EventSink for JsonLines {
    fn event(&self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
    }
}

/// Plain lines on stderr (for logs and pipes).
pub(crate) struct PlainLines {
    pub(crate) verbose: bool,
    pub(crate) quiet: bool,
}

/// An error whose `caused by:` lines stay under it, with its host.
fn under_host(host: &str, error: &str) -> String {
    deploy_core::cause::indented(error, &format!("[{host}]   "))
}

/// The line to print for an event, if any.
fn line_for(event: &Event, verbose: bool) -> Option<String> {
    Some(match event {
        Event::RunStarted {
            environment,
            task,
            release,
            hosts,
            steps,
        } if release.is_empty() => {
            format!("running `{task}` on {environment}: {hosts} host(s), {steps} step(s)")
        }
        Event::RunStarted {
            environment,
            task,
            release,
            hosts,
            steps,
        } => format!(
            "running `{task}` on {environment}: {hosts} host(s), {steps} step(s), release {release}"
        ),
        Event::BatchStarted { batch, hosts } => format!("batch {batch}: {}", hosts.join(", ")),
        Event::StepStarted {
            host,
            step,
            summary,
            attempt,
        } => {
            let again = if *attempt > 1 {
                format!(" (try {attempt})")
            } else {
                String::new()
            };
            format!("[{host}] > {step} {summary}{again}")
        }
        Event::Output {
            host,
            stream,
            line,
            shown,
            ..
        } => {
            if !verbose && !shown && *stream == OutputStream::Stdout {
                return None;
            }
            format!("[{host}] | {line}")
        }
        Event::StepSkipped { host, step } => format!("[{host}] = {step} already done"),
        Event::ConditionNotMet {
            host,
            step,
            condition,
        } => format!("[{host}] - {step} skipped: `when` did not hold ({condition})"),
        Event::StepFinished {
            host,
            step,
            elapsed_ms,
        } => format!("[{host}] ok {step} ({:.1}s)", *elapsed_ms as f64 / 1000.0),
        Event::StepFailed {
            host,
            step,
            error,
            will_retry,
            allowed,
            ..
        } => format!(
            "[{host}] FAILED {step}{}: {}",
            if *will_retry {
                " (will retry)"
            } else if *allowed {
                " (allowed: the host goes on)"
            } else {
                ""
            },
            under_host(host, error)
        ),
        Event::StepInterrupted { host, step } => format!("[{host}] interrupted {step}"),
        Event::RollbackStarted => "rolling back completed steps".to_owned(),
        Event::RolledBack { host, step } => format!("[{host}] undone {step}"),
        Event::UndoFailed { host, step, error } => {
            format!("[{host}] UNDO FAILED {step}: {}", under_host(host, error))
        }
        Event::NotUndoable { host, step } => format!("[{host}] cannot undo {step}"),
        Event::RunFinished { .. } => return None,
        _ => return None,
    })
}

impl EventSink for PlainLines {
    fn event(&self, event: &Event) {
        let important = matches!(
            event,
            Event::StepFailed { .. } | Event::UndoFailed { .. } | Event::StepInterrupted { .. }
        );
        if self.quiet && !important {
            return;
        }
        if let Some(line) = line_for(event, self.verbose) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }
}

/// A spinner per host on a terminal; output lines and failures scroll above.
pub(crate) struct Bars {
    bars: MultiProgress,
    lanes: Mutex<BTreeMap<String, ProgressBar>>,
    verbose: bool,
}

impl Bars {
    pub(crate) fn new(verbose: bool) -> Self {
        Bars {
            bars: MultiProgress::new(),
            lanes: Mutex::new(BTreeMap::new()),
            verbose,
        }
    }

    pub(crate) fn multi(&self) -> MultiProgress {
        self.bars.clone()
    }

    fn lane(&self, host: &str) -> Option<ProgressBar> {
        let mut lanes = self.lanes.lock().ok()?;
        Some(
            lanes
                .entry(host.to_owned())
                .or_insert_with(|| {
                    let bar = self.bars.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(host.to_owned());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                })
                .clone(),
        )
    }

    pub(crate) fn finish(&self) {
        if let Ok(lanes) = self.lanes.lock() {
            for bar in lanes.values() {
                bar.finish();
            }
        }
    }
}

impl EventSink for Bars {
    fn event(&self, event: &Event) {
        match event {
            Event::StepStarted {
                host,
                step,
                summary,
                ..
            } => {
                if let Some(bar) = self.lane(host) {
                    bar.set_message(format!("{step} {summary}"));
                }
            }
            Event::StepFinished { host, step, .. } | Event::StepSkipped { host, step } => {
                if let Some(bar) = self.lane(host) {
                    bar.set_message(format!("{step} done"));
                }
            }
            Event::RunFinished { .. } => self.finish(),
            other => {
                if let Some(line) = line_for(other, self.verbose) {
                    let _ = self.bars.println(line);
                }
            }
        }
    }
}
