//! The log writer: lines go into a shared buffer and a background thread writes them to stderr
//! in batches, so a call that logs (every RPC writes an access line) does not pay a `write`
//! system call on its own thread.
//!
//! - A line is appended under a mutex (a copy into the buffer); the writer thread is woken only
//!   when it sleeps on an empty buffer, then waits [`BATCH_DELAY`] for more lines and writes
//!   them all with one `write_all`. Under load that is one system call per few hundred lines;
//!   when idle, a line reaches stderr within [`BATCH_DELAY`].
//! - The buffer is bounded: a line that finds [`MAX_BUFFERED`] bytes waiting writes the buffer
//!   itself (the old, blocking behaviour), so a stalled stderr slows the callers down instead of
//!   growing memory or dropping lines.
//! - [`flush`] writes what is waiting; the binary calls it before it exits and before it prints
//!   a fatal error, so no line is lost or reordered around it.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

/// How long the writer thread waits for more lines after the first one of a batch.
pub const BATCH_DELAY: Duration = Duration::from_millis(5);

/// Bytes waiting beyond which a logging thread writes the buffer itself.
pub const MAX_BUFFERED: usize = 4 << 20;

/// Where the batches go: stderr in the binary, a shared buffer in the tests.
type Sink = Box<dyn FnMut(&[u8]) + Send>;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when a line arrives while the writer thread sleeps on an empty buffer.
    arrived: Condvar,
    /// The writer thread is (about to be) waiting on `arrived`.
    sleeping: AtomicBool,
    /// No writer thread: each line is written by the thread that logs it.
    direct: AtomicBool,
    /// Serialises the writes of batches, so lines leave in the order they were buffered.
    sink: Mutex<Sink>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes what is waiting and writes it (the sink lock is taken before the buffer is
    /// emptied, so two flushes cannot overtake each other).
    fn write_out(&self) {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let batch = std::mem::take(&mut self.lock().bytes);
        if !batch.is_empty() {
            sink(&batch);
        }
    }

    fn append(&self, line: &[u8]) {
        if self.direct.load(Ordering::Acquire) {
            let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
            sink(line);
            return;
        }
        let mut pending = self.lock();
        if pending.bytes.len() + line.len() > MAX_BUFFERED {
            drop(pending);
            self.write_out();
            pending = self.lock();
        }
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        drop(pending);
        if was_empty && self.sleeping.load(Ordering::Acquire) {
            self.arrived.notify_one();
        }
    }

    /// The writer thread: sleeps while nothing waits; otherwise lets a batch gather, then
    /// writes it.
    fn run(&self) {
        loop {
            {
                let mut pending = self.lock();
                while pending.bytes.is_empty() {
                    self.sleeping.store(true, Ordering::Release);
                    pending = self
                        .arrived
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                self.sleeping.store(false, Ordering::Release);
            }
            std::thread::sleep(BATCH_DELAY);
            self.write_out();
        }
    }
}

/// A handle that appends log lines to the shared buffer (a `tracing_subscriber` writer).
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BatchedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedWriter").finish_non_exhaustive()
    }
}

impl BatchedWriter {
    /// A writer whose batches go to `sink`, with its own writer thread (named `log-writer`).
    /// If that thread cannot start, every line is written at once on the caller's thread.
    pub fn new(sink: impl FnMut(&[u8]) + Send + 'static) -> Self {
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            arrived: Condvar::new(),
            sleeping: AtomicBool::new(false),
            direct: AtomicBool::new(false),
            sink: Mutex::new(Box::new(sink)),
        });
        let thread_shared = Arc::clone(&shared);
        let started = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || thread_shared.run());
        if started.is_err() {
            shared.direct.store(true, Ordering::Release);
        }
        Self { shared }
    }

    /// Writes every line buffered so far.
    pub fn flush(&self) {
        self.shared.write_out();
    }
}

impl std::io::Write for BatchedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The process's stderr writer, started by the first call.
pub fn stderr() -> BatchedWriter {
    static STDERR: OnceLock<BatchedWriter> = OnceLock::new();
    STDERR
        .get_or_init(|| {
            BatchedWriter::new(|batch: &[u8]| {
                // Nowhere to report a failed write of the log itself.
                let _ = std::io::stderr().lock().write_all(batch);
            })
        })
        .clone()
}

/// Writes every log line buffered so far to stderr (before exiting, or before printing an
/// error outside the log).
pub fn flush() {
    stderr().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collecting() -> (BatchedWriter, Arc<Mutex<Vec<Vec<u8>>>>) {
        let batches = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let sink = Arc::clone(&batches);
        let writer = BatchedWriter::new(move |b: &[u8]| {
            sink.lock().expect("sink").push(b.to_vec());
        });
        (writer, batches)
    }

    fn joined(batches: &Mutex<Vec<Vec<u8>>>) -> String {
        String::from_utf8(batches.lock().expect("batches").concat()).expect("utf-8")
    }

    #[test]
    fn lines_reach_the_sink_in_order_and_in_batches() {
        let (writer, batches) = collecting();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        w.write_all(format!("t{t} line {i}\n").as_bytes())
                            .expect("write");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        writer.flush();
        let text = joined(&batches);
        assert_eq!(text.lines().count(), 2000, "no line lost or doubled");
        for t in 0..4 {
            let mine: Vec<_> = text
                .lines()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            let expected: Vec<_> = (0..500).map(|i| format!("t{t} line {i}")).collect();
            assert_eq!(mine, expected, "each thread's lines stay in order");
        }
        assert!(
            batches.lock().expect("batches").len() < 2000,
            "lines are written in batches, not one write each"
        );
    }

    #[test]
    fn an_idle_writer_writes_a_lone_line_without_a_flush() {
        let (mut writer, batches) = collecting();
        writer.write_all(b"alone\n").expect("write");
        // The writer thread wakes for it; no flush is called here.
        for _ in 0..2000 {
            if joined(&batches) == "alone\n" {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the line never reached the sink: {:?}", joined(&batches));
    }

    #[test]
    fn a_full_buffer_is_written_by_the_logging_thread() {
        let (mut writer, batches) = collecting();
        let line = vec![b'x'; MAX_BUFFERED / 2 + 1];
        for _ in 0..3 {
            writer.write_all(&line).expect("write");
        }
        writer.flush();
        let total: usize = batches.lock().expect("batches").iter().map(Vec::len).sum();
        assert_eq!(total, 3 * line.len());
        assert!(
            batches
                .lock()
                .expect("batches")
                .iter()
                .all(|b| b.len() <= MAX_BUFFERED),
            "no batch exceeds the bound"
        );
    }
}
