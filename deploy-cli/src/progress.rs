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

/// How many running steps a terminal shows at most (fewer on a short one).
const MOST_SHOWN: usize = 10;

/// On a terminal, one summary bar for the whole fleet (steps done of all,
/// hosts running / done / failed, elapsed, an estimate) and under it at
/// most a screenful of the steps running now; output lines and failures
/// scroll above. 200 hosts are one bar and ten lines, not 200 spinners.
pub(crate) struct Bars {
    bars: MultiProgress,
    summary: ProgressBar,
    fleet: Mutex<Fleet>,
    shown_at_most: usize,
    verbose: bool,
}

/// What the summary bar counts.
#[derive(Default)]
struct Fleet {
    /// Steps each lane has yet to end.
    remaining: BTreeMap<String, usize>,
    /// Lanes with a step running, and what it is.
    running: BTreeMap<String, String>,
    /// The running lanes shown on a line of their own.
    shown: BTreeMap<String, ProgressBar>,
    /// `… and N more running`, while there are more.
    more: Option<ProgressBar>,
    failed: std::collections::BTreeSet<String>,
    done: usize,
}

impl Bars {
    /// Bars for a run of `plan`.
    pub(crate) fn new(verbose: bool, plan: &deploy_core::Plan) -> Self {
        let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
        for (host, steps) in plan.hosts().iter().zip(plan.steps_by_host()) {
            remaining.insert(host.name.clone(), steps.len());
        }
        let local = plan
            .steps()
            .iter()
            .filter(|s| s.on == deploy_core::Selector::Local)
            .count();
        if local > 0 {
            remaining.insert("local".to_owned(), local);
        }
        let total: usize = remaining.values().sum();
        let bars = MultiProgress::new();
        let summary = bars.add(ProgressBar::new(total as u64));
        summary.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps · {msg} · eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        summary.enable_steady_tick(Duration::from_millis(200));
        let rows = console::Term::stderr().size().0 as usize;
        let bars = Bars {
            bars,
            summary,
            fleet: Mutex::new(Fleet {
                remaining,
                ..Fleet::default()
            }),
            shown_at_most: MOST_SHOWN.min(rows.saturating_sub(4)).max(1),
            verbose,
        };
        bars.redraw();
        bars
    }

    pub(crate) fn multi(&self) -> MultiProgress {
        self.bars.clone()
    }

    pub(crate) fn finish(&self) {
        if let Ok(mut fleet) = self.fleet.lock() {
            for (_, bar) in std::mem::take(&mut fleet.shown) {
                bar.finish_and_clear();
            }
            if let Some(more) = fleet.more.take() {
                more.finish_and_clear();
            }
        }
        self.summary.finish();
    }

    /// A step started on `lane`.
    fn started(&self, lane: &str, what: String) {
        if let Ok(mut fleet) = self.fleet.lock() {
            fleet.running.insert(lane.to_owned(), what);
        }
        self.redraw();
    }

    /// A step ended on `lane` (`failed`: for good, the lane stops).
    fn ended(&self, lane: &str, failed: bool) {
        self.summary.inc(1);
        if let Ok(mut fleet) = self.fleet.lock() {
            fleet.running.remove(lane);
            if failed {
                fleet.failed.insert(lane.to_owned());
            } else if let Some(left) = fleet.remaining.get_mut(lane) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    fleet.done += 1;
                }
            }
        }
        self.redraw();
    }

    /// The summary's counts, a line per shown running step, and how many
    /// more run unseen.
    fn redraw(&self) {
        let Ok(mut fleet) = self.fleet.lock() else {
            return;
        };
        let Fleet {
            running,
            shown,
            more,
            ..
        } = &mut *fleet;
        shown.retain(|lane, bar| {
            let keep = running.contains_key(lane);
            if !keep {
                bar.finish_and_clear();
            }
            keep
        });
        for (lane, what) in running.iter() {
            if let Some(bar) = shown.get(lane) {
                bar.set_message(what.clone());
            } else if shown.len() < self.shown_at_most {
                let bar = match more.as_ref() {
                    Some(more) => self.bars.insert_before(more, ProgressBar::new_spinner()),
                    None => self.bars.add(ProgressBar::new_spinner()),
                };
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix:.bold} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(lane.clone());
                bar.set_message(what.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                shown.insert(lane.clone(), bar);
            }
        }
        let unseen = running.len() - shown.len();
        match (unseen, more.take()) {
            (0, Some(bar)) => bar.finish_and_clear(),
            (0, None) => {}
            (n, bar) => {
                let bar = bar.unwrap_or_else(|| {
                    let bar = self.bars.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar
                });
                bar.set_message(format!("… and {n} more running"));
                *more = Some(bar);
            }
        }
        self.summary.set_message(format!(
            "hosts {} running, {} done, {} failed",
            running.len(),
            fleet.done,
            fleet.failed.len()
        ));
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
            } => self.started(host, format!("{step} {summary}")),
            Event::StepFinished { host, .. }
            | Event::StepSkipped { host, .. }
            | Event::ConditionNotMet { host, .. } => self.ended(host, false),
            Event::StepFailed {
                host,
                will_retry,
                allowed,
                ..
            } if !*will_retry => {
                if let Some(line) = line_for(event, self.verbose) {
                    let _ = self.bars.println(line);
                }
                self.ended(host, !*allowed);
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
