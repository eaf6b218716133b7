//! The engine's multiplexed stdout/stderr chunks as lines, for exec and
//! logs alike; the last lines of each stream are kept for error messages.

use std::collections::VecDeque;

use deploy_core::target::{OutputSink, OutputStream};

/// How many of each stream's last lines an error shows.
const TAIL_LINES: usize = 5;

/// Splits multiplexed stdout/stderr chunks into lines, keeping each
/// stream's last lines.
#[derive(Default)]
pub(super) struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_tail: VecDeque<String>,
    stderr_tail: VecDeque<String>,
}

impl Lines {
    pub(super) fn feed(&mut self, chunk: bollard::container::LogOutput, output: &dyn OutputSink) {
        use bollard::container::LogOutput;
        let stream = match &chunk {
            LogOutput::StdErr { .. } => OutputStream::Stderr,
            _ => OutputStream::Stdout,
        };
        self.buffer(stream).extend_from_slice(&chunk.into_bytes());
        while let Some(end) = self.buffer(stream).iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer(stream).drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            self.emit(stream, text.trim_end_matches(['\n', '\r']), output);
        }
    }

    /// Emits what is left without a newline.
    pub(super) fn finish(&mut self, output: &dyn OutputSink) {
        for stream in [OutputStream::Stdout, OutputStream::Stderr] {
            let rest = std::mem::take(self.buffer(stream));
            if !rest.is_empty() {
                self.emit(stream, &String::from_utf8_lossy(&rest), output);
            }
        }
    }

    /// The last lines of stdout and of stderr.
    pub(super) fn tails(self) -> (Vec<String>, Vec<String>) {
        (self.stdout_tail.into(), self.stderr_tail.into())
    }

    fn buffer(&mut self, stream: OutputStream) -> &mut Vec<u8> {
        match stream {
            OutputStream::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        }
    }

    fn emit(&mut self, stream: OutputStream, text: &str, output: &dyn OutputSink) {
        output.line(stream, text);
        let tail = match stream {
            OutputStream::Stderr => &mut self.stderr_tail,
            _ => &mut self.stdout_tail,
        };
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text.to_owned());
    }
}
