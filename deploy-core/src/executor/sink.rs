//! Where a run's happenings go: every event masked before it reaches the
//! caller's sink, a step's output lines as events, and the context a step
//! is handed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::Run;
use crate::event::{Event, EventSink};
use crate::plan::PlannedStep;
use crate::release::{ImageRecord, LinkRecord, RunLog};
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
    images: &'a Mutex<BTreeMap<String, Vec<ImageRecord>>>,
    links: &'a Mutex<BTreeMap<String, Vec<LinkRecord>>>,
    backups: &'a Mutex<BTreeMap<String, Vec<String>>>,
}

/// The images a step started, kept per host for the release record.
impl RunLog for StepOutput<'_> {
    fn started(&self, image: ImageRecord) {
        if let Ok(mut all) = self.images.lock() {
            let host = all.entry(self.host.to_owned()).or_default();
            host.retain(|i| i.container != image.container);
            host.push(image);
        }
    }

    fn linked(&self, link: &str, target: &str) {
        if let Ok(mut all) = self.links.lock() {
            let host = all.entry(self.host.to_owned()).or_default();
            host.retain(|l| l.link != link);
            host.push(LinkRecord {
                link: link.to_owned(),
                target: target.to_owned(),
            });
        }
    }

    fn backed_up(&self, file: &str) {
        if let Ok(mut all) = self.backups.lock() {
            all.entry(self.host.to_owned())
                .or_default()
                .push(file.to_owned());
        }
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
            images: &self.images,
            links: &self.links,
            backups: &self.backups,
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
