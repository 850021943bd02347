//! CPU seconds by ingest stage: where histd's own CPU goes while it fetches, verifies and stores
//! history (`histd_cpu_seconds_total{stage}`, issue 14).
//!
//! Owns the [`Stage`] set, the process-wide totals (one atomic per stage) and [`StageTimer`], a
//! guard that reads the calling thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) when made and when
//! dropped and adds the difference to its stage. Call sites wrap synchronous work only (a frame, a
//! message, a batch, a block), never an `.await`: a thread's CPU clock says nothing about a task
//! that moved threads. Overhead is two clock reads per wrapped call (about half a microsecond),
//! so wrap per frame, batch or block, never per log or per transaction.
//!
//! A timer made while another one is running on the same thread counts nothing: the outer stage
//! keeps the time, so the stages never count a CPU second twice (sealing compacts first: that is
//! all `compaction`). Like `metrics`, any layer may use it; it must never do I/O, block, or decide
//! anything from what it measures.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where CPU time is spent while ingesting. The discriminant indexes the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// RLPx frame MAC check and AES decryption, and snappy decompression of messages.
    Rlpx,
    /// Decoding eth messages (headers, bodies, receipts) from RLP.
    RlpDecode,
    /// Verification: header hashes, transaction/receipt tries, blooms.
    Verify,
    /// Encoding a verified block into its stored form and compressing it (zstd).
    Compress,
    /// Fast-sync writes: WAL appends, fsync, the redb index commit.
    DiskWrite,
    /// Compaction and sealing of shards, the log index included.
    Compaction,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Rlpx,
        Stage::RlpDecode,
        Stage::Verify,
        Stage::Compress,
        Stage::DiskWrite,
        Stage::Compaction,
    ];

    /// The `stage` label value.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Rlpx => "rlpx",
            Stage::RlpDecode => "rlp_decode",
            Stage::Verify => "verify",
            Stage::Compress => "compress",
            Stage::DiskWrite => "disk_write",
            Stage::Compaction => "compaction",
        }
    }

    /// Starts timing this stage on the calling thread until the guard drops.
    pub fn timer(self) -> StageTimer {
        StageTimer::start(self, &NANOS)
    }
}

/// Nanoseconds of thread CPU time per stage, indexed by `Stage as usize` (the order of
/// [`Stage::ALL`]).
type Totals = [AtomicU64; 6];

/// The process's totals.
static NANOS: Totals = [const { AtomicU64::new(0) }; 6];

thread_local! {
    /// Whether a timer is running on this thread (an inner one then counts nothing).
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// Times one stage on the calling thread; adds the thread's CPU time to the stage when dropped.
#[must_use = "the stage is timed until the guard drops"]
#[derive(Debug)]
pub struct StageTimer {
    stage: Stage,
    /// The thread's CPU clock at the start; `None` when nested (or the clock is unavailable).
    started: Option<u64>,
    /// Where the time goes (the process's totals; a test's own).
    totals: &'static Totals,
}

impl StageTimer {
    fn start(stage: Stage, totals: &'static Totals) -> Self {
        let outer = RUNNING.with(|r| !r.replace(true));
        let started = if outer { thread_cpu_nanos() } else { None };
        if outer && started.is_none() {
            RUNNING.with(|r| r.set(false));
        }
        Self {
            stage,
            started,
            totals,
        }
    }
}

impl Drop for StageTimer {
    fn drop(&mut self) {
        let Some(started) = self.started else {
            return;
        };
        RUNNING.with(|r| r.set(false));
        if let Some(now) = thread_cpu_nanos() {
            self.totals[self.stage as usize]
                .fetch_add(now.saturating_sub(started), Ordering::Relaxed);
        }
    }
}

/// The calling thread's CPU time (user + system) in nanoseconds; `None` if the clock cannot be
/// read (never on Linux).
pub fn thread_cpu_nanos() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// CPU seconds counted so far per stage, in [`Stage::ALL`] order.
pub fn totals() -> [(Stage, f64); 6] {
    Stage::ALL.map(|s| (s, NANOS[s as usize].load(Ordering::Relaxed) as f64 / 1e9))
}

/// The totals as a Prometheus counter family in the text format (`# HELP`, `# TYPE`, one line per
/// stage). The `metrics` crate's counters hold whole numbers only, and a counter of whole seconds
/// would read 0 for most of a run, so the exporter appends this text to what it renders.
pub fn prometheus_text(name: &str, help: &str) -> String {
    use std::fmt::Write as _;
    let mut out = format!("# HELP {name} {help}\n# TYPE {name} counter\n");
    for (stage, secs) in totals() {
        let _ = writeln!(out, "{name}{{stage=\"{}\"}} {secs:.6}", stage.label());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(nanos: u64) {
        let start = thread_cpu_nanos().expect("thread clock");
        let mut x = 0u64;
        while thread_cpu_nanos().expect("thread clock") - start < nanos {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    /// This test's own totals: other tests store and decode blocks in parallel, timing the
    /// process's.
    static OURS: Totals = [const { AtomicU64::new(0) }; 6];

    fn nanos_of(stage: Stage) -> u64 {
        OURS[stage as usize].load(Ordering::Relaxed)
    }

    #[test]
    fn a_timer_adds_the_thread_cpu_time_of_its_scope_and_a_nested_one_adds_nothing() {
        {
            let _outer = StageTimer::start(Stage::Compress, &OURS);
            spin(2_000_000);
            let _inner = StageTimer::start(Stage::DiskWrite, &OURS);
            spin(2_000_000);
        }
        let added = nanos_of(Stage::Compress);
        assert!(added >= 4_000_000, "counted {added} ns of at least 4 ms");
        assert_eq!(nanos_of(Stage::DiskWrite), 0, "the nested timer counted");
        // The thread is free again: a new timer counts.
        {
            let _t = StageTimer::start(Stage::Verify, &OURS);
            spin(1_000_000);
        }
        assert!(nanos_of(Stage::Verify) >= 1_000_000);
        // Sleeping is not CPU time.
        {
            let _t = StageTimer::start(Stage::Rlpx, &OURS);
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        assert!(nanos_of(Stage::Rlpx) < 20_000_000);
    }

    #[test]
    fn all_lists_the_stages_in_discriminant_order() {
        for (i, stage) in Stage::ALL.iter().enumerate() {
            assert_eq!(*stage as usize, i, "{stage:?}");
        }
    }

    #[test]
    fn the_text_form_has_every_stage_once() {
        let text = prometheus_text("histd_cpu_seconds_total", "help");
        assert!(text.starts_with(
            "# HELP histd_cpu_seconds_total help\n# TYPE histd_cpu_seconds_total counter\n"
        ));
        for stage in Stage::ALL {
            let prefix = format!("histd_cpu_seconds_total{{stage=\"{}\"}} ", stage.label());
            assert_eq!(
                text.lines().filter(|l| l.starts_with(&prefix)).count(),
                1,
                "{text}"
            );
        }
    }
}
