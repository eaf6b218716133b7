//! The engine's multiplexed stdout/stderr chunks as lines, for exec and
//! logs alike (the last stderr lines are kept for error messages).

use deploy_core::target::{OutputSink, OutputStream};

/// Splits multiplexed stdout/stderr chunks into lines.
#[derive(Default)]
pub(super) struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    pub(super) fn feed(
        &mut self,
        chunk: bollard::container::LogOutput,
        output: &dyn OutputSink,
        stderr_tail: &mut Vec<String>,
    ) {
        use bollard::container::LogOutput;
        let (buffer, stream) = match &chunk {
            LogOutput::StdErr { .. } => (&mut self.stderr, OutputStream::Stderr),
            _ => (&mut self.stdout, OutputStream::Stdout),
        };
        buffer.extend_from_slice(&chunk.into_bytes());
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            output.line(stream, text);
            if stream == OutputStream::Stderr {
                remember(stderr_tail, text);
            }
        }
    }

    pub(super) fn finish(&mut self, output: &dyn OutputSink, stderr_tail: &mut Vec<String>) {
        for (buffer, stream) in [
            (&mut self.stdout, OutputStream::Stdout),
            (&mut self.stderr, OutputStream::Stderr),
        ] {
            if !buffer.is_empty() {
                let text = String::from_utf8_lossy(buffer).into_owned();
                output.line(stream, &text);
                if stream == OutputStream::Stderr {
                    remember(stderr_tail, &text);
                }
                buffer.clear();
            }
        }
    }
}

fn remember(tail: &mut Vec<String>, line: &str) {
    tail.push(line.to_owned());
    if tail.len() > 5 {
        tail.remove(0);
    }
}
