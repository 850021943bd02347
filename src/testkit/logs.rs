//! Log capture for tests that assert on what was logged: one global `tracing` subscriber (INFO and
//! above, plain text, no colours) writing into memory, installed on first use.
//!
//! Global on purpose: a scoped subscriber (`set_default`) misses events when tests run in parallel,
//! because tracing caches each callsite's interest process-wide. Every test of the process logs
//! here, so a test must pick out its own lines (by a peer id, an address, a unique field), never
//! assume the capture holds only its own.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Text logged so far, shared with the subscriber's writer.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A test that panicked while logging leaves whole lines behind; keep reading them.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The process's log, capturing from the first call on.
///
/// # Panics
/// If another global subscriber was installed first (the capture would silently stay empty).
pub fn logs() -> &'static LogCapture {
    static LOGS: OnceLock<LogCapture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogCapture::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("testkit::logs must be the process's only global subscriber");
        logs
    })
}
