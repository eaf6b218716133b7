//! Where a run's happenings go: every event masked before it reaches the
//! caller's sink, a step's output lines as events, and the context a step
//! is handed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::Run;
use crate::event::{Event, EventSink};
use crate::plan::PlannedStep;
use crate::release::{HostNotes, ImageRecord, RunLog, ServiceRecord};
use crate::secret::Masker;
use crate::step::StepContext;
use crate::target::{OutputSink, OutputStream, Target};

/// Masks every event before it reaches the real sink.
pub(super) struct MaskingSink<'a> {
    pub(super) inner: &'a dyn EventSink,
    pub(super) masker: &'a Masker,
}

impl EventSink for MaskingSink<'_> {
    fn event(&self, event: &Event) {
        match event {
            Event::Output {
                host,
                step,
                stream,
                line,
                shown,
            } => self.inner.event(&Event::Output {
                host: host.clone(),
                step: step.clone(),
                stream: *stream,
                line: self.masker.mask(line),
                shown: *shown,
            }),
            other => self.inner.event(other),
        }
    }
}

/// Streams a step's output lines as events.
pub(super) struct StepOutput<'a> {
    sink: &'a dyn EventSink,
    host: &'a str,
    step: &'a str,
    shown: bool,
    notes: &'a Mutex<BTreeMap<String, Mutex<HostNotes>>>,
}

/// What a step left on its host, kept per host for the release record.
impl StepOutput<'_> {
    fn note(&self, write: impl FnOnce(&Mutex<HostNotes>)) {
        if let Ok(mut all) = self.notes.lock() {
            write(all.entry(self.host.to_owned()).or_default());
        }
    }
}

impl RunLog for StepOutput<'_> {
    fn started(&self, image: ImageRecord) {
        self.note(|notes| notes.started(image));
    }

    fn linked(&self, link: &str, target: &str) {
        self.note(|notes| notes.linked(link, target));
    }

    fn backed_up(&self, file: &str) {
        self.note(|notes| notes.backed_up(file));
    }

    fn manages(&self, service: ServiceRecord) {
        self.note(|notes| notes.manages(service));
    }
}

impl OutputSink for StepOutput<'_> {
    fn line(&self, stream: OutputStream, line: &str) {
        self.sink.event(&Event::Output {
            host: self.host.to_owned(),
            step: self.step.to_owned(),
            stream,
            line: line.to_owned(),
            shown: self.shown,
        });
    }
}

impl Run<'_> {
    /// Where a step's output lines go on `lane`.
    pub(super) fn output<'s>(&'s self, lane: &'s str, step: &'s PlannedStep) -> StepOutput<'s> {
        StepOutput {
            sink: self.sink,
            host: lane,
            step: &step.id,
            shown: step.step.describe().shows_output,
            notes: &self.notes,
        }
    }

    /// What a step gets to work with on `target`.
    pub(super) fn context<'s>(
        &'s self,
        target: &Arc<dyn Target>,
        output: &'s StepOutput<'s>,
    ) -> StepContext<'s> {
        StepContext {
            target: target.clone(),
            local: self.executor.local.clone(),
            values: &self.executor.values,
            output,
            approver: self.executor.approver.as_ref(),
            masker: self.masker,
            log: output,
        }
    }
}
