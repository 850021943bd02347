//! Progress of a fast-sync run as a person sees it: a structured INFO line every few seconds
//! (blocks, target, blocks/s, MB/s, peers, ETA), or on a terminal a one-line bar redrawn in place.
//!
//! Owns [`Progress`] (rates over the last interval, the ETA) and the bar's text. It reads
//! [`SyncStats`] and never changes anything.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::stats::SyncStats;

/// How often a line is logged (the bar is redrawn every second).
pub const LOG_EVERY: Duration = Duration::from_secs(5);
const BAR_EVERY: Duration = Duration::from_secs(1);

/// One sample of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Blocks stored by this run.
    pub blocks: u64,
    /// Blocks this run has to store in all (stored before it excluded), as known now.
    pub to_store: u64,
    /// The highest block of the target.
    pub target: u64,
    /// Blocks per second over the last interval.
    pub blocks_per_s: f64,
    /// MB (10^6 bytes) of eth answer messages (RLP after snappy) received per second over the
    /// last interval.
    pub mb_per_s: f64,
    /// Usable peers.
    pub peers: usize,
    /// Seconds left at the current rate, if it can be said.
    pub eta_s: Option<u64>,
}

/// Progress reporting state.
#[derive(Debug)]
pub struct Progress {
    last: Instant,
    last_blocks: u64,
    last_bytes: u64,
    tty: bool,
    every: Duration,
}

impl Progress {
    /// Starts now; a bar when stderr is a terminal, log lines otherwise.
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        Self {
            last: Instant::now(),
            last_blocks: 0,
            last_bytes: 0,
            tty,
            every: if tty { BAR_EVERY } else { LOG_EVERY },
        }
    }

    /// A sample if the interval has passed (then the rates restart).
    pub fn due(
        &mut self,
        stats: &SyncStats,
        to_store: u64,
        target: u64,
        peers: usize,
    ) -> Option<Sample> {
        let dt = self.last.elapsed();
        if dt < self.every {
            return None;
        }
        let (blocks, bytes) = (stats.blocks_stored(), stats.bytes_fetched());
        let secs = dt.as_secs_f64().max(1e-3);
        let blocks_per_s = blocks.saturating_sub(self.last_blocks) as f64 / secs;
        let mb_per_s = bytes.saturating_sub(self.last_bytes) as f64 / secs / 1e6;
        self.last = Instant::now();
        self.last_blocks = blocks;
        self.last_bytes = bytes;
        let left = to_store.saturating_sub(blocks);
        let eta_s = (blocks_per_s > 0.0).then(|| (left as f64 / blocks_per_s).round() as u64);
        Some(Sample {
            blocks,
            to_store,
            target,
            blocks_per_s,
            mb_per_s,
            peers,
            eta_s,
        })
    }

    /// Logs `s` (or redraws the bar).
    pub fn report(&self, s: &Sample) {
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}", bar(s));
            let _ = err.flush();
        } else {
            tracing::info!(
                blocks = s.blocks,
                to_store = s.to_store,
                target = s.target,
                blocks_per_s = (s.blocks_per_s * 10.0).round() / 10.0,
                mb_per_s = (s.mb_per_s * 100.0).round() / 100.0,
                peers = s.peers,
                eta_s = s.eta_s,
                "sync progress"
            );
        }
    }

    /// Ends the bar's line (so the next log line starts on its own).
    pub fn finish(&self) {
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// The bar: `[#####.....]  52% 1200/2300 blocks  340 blk/s  4.1 MB/s  4 peers  ETA 3s`.
pub fn bar(s: &Sample) -> String {
    const WIDTH: usize = 24;
    let frac = if s.to_store == 0 {
        1.0
    } else {
        (s.blocks as f64 / s.to_store as f64).clamp(0.0, 1.0)
    };
    let filled = (frac * WIDTH as f64).round() as usize;
    let eta = s.eta_s.map_or_else(|| "?".to_string(), |e| format!("{e}s"));
    format!(
        "[{}{}] {:>3.0}% {}/{} blocks  {:.0} blk/s  {:.1} MB/s  {} peers  ETA {}   ",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        frac * 100.0,
        s.blocks,
        s.to_store,
        s.blocks_per_s,
        s.mb_per_s,
        s.peers,
        eta
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_says_blocks_rate_peers_and_eta() {
        let s = Sample {
            blocks: 50,
            to_store: 100,
            target: 100,
            blocks_per_s: 10.0,
            mb_per_s: 1.5,
            peers: 4,
            eta_s: Some(5),
        };
        let b = bar(&s);
        assert!(
            b.starts_with("[############............]  50% 50/100 blocks"),
            "{b}"
        );
        assert!(
            b.contains("10 blk/s")
                && b.contains("1.5 MB/s")
                && b.contains("4 peers")
                && b.contains("ETA 5s"),
            "{b}"
        );
    }
}
