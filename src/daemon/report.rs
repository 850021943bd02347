//! The run report: one JSON file per `histd run` in `DATA_DIR/reports/`, written when the run
//! ends, so an operator can see afterwards what a run did without its logs.
//!
//! Owns the report's content ([`RunReport`]: version, mode, the phases entered with their
//! durations, what sync fetched and from whom, verification failures by kind, peak RSS, why and
//! with which code the run ended), recording the phases from the machine's transition history
//! ([`RunRecorder`]), and the files: named by the run's UTC start time, written atomically (tmp →
//! fsync → rename → fsync directory), the last [`KEEP`] kept. It must never decide anything about
//! the run, and never create the data directory (a run that never opened one leaves no report).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::intent::SyncMode;
use super::phase::Phase;
use super::states::{ExitStatus, Taken};
use crate::sync::stats::{SyncStats, SyncStatsSnapshot};

/// The directory under the data directory holding the reports.
pub const REPORTS_DIR: &str = "reports";
/// How many reports are kept; older ones are deleted when a new one is written.
pub const KEEP: usize = 20;

/// One phase the run was in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSpan {
    /// The phase (`startup`, `fast_sync`, `finalizing`, `follow`, `shutting_down`).
    pub phase: &'static str,
    /// The event that led into it (`None` for the first phase).
    pub entered_on: Option<&'static str>,
    /// Seconds after the run started.
    pub entered_at_secs: f64,
    /// How long the run stayed in it.
    pub secs: f64,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunExit {
    /// The process exit code.
    pub code: u8,
    /// Why: the failure, or the reason of the transition into ShuttingDown.
    pub reason: String,
}

/// One run's report (the JSON file's content).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// histd's version.
    pub version: &'static str,
    /// UTC start time (RFC 3339).
    pub started_at: String,
    /// Seconds from start to the end of ShuttingDown.
    pub duration_secs: f64,
    /// `follow` or `range`.
    pub mode: &'static str,
    /// Range mode's last block.
    pub end_block: Option<u64>,
    /// Every phase entered, in order, with its duration.
    pub phases: Vec<PhaseSpan>,
    /// What sync fetched and stored, requests per peer, verification failures by kind (`None`
    /// when the workers keep no counters, e.g. scripted test workers).
    pub sync: Option<SyncStatsSnapshot>,
    /// Peak resident set size in bytes (`VmHWM`), if the system tells it.
    pub peak_rss_bytes: Option<u64>,
    /// histd's CPU seconds by ingest stage (`histd_cpu_seconds_total`, `crate::stage_cpu`) over
    /// the whole run: `histd-bench` reads them here, the process having exited.
    pub cpu_seconds_by_stage: std::collections::BTreeMap<&'static str, f64>,
    /// How the run ended.
    pub exit: RunExit,
}

/// Records when each phase was entered, from the machine's transition history.
#[derive(Debug)]
pub struct RunRecorder {
    started_wall: SystemTime,
    started: Instant,
    mode: SyncMode,
    /// (phase, event that led into it, when).
    entered: Vec<(Phase, Option<&'static str>, Instant)>,
    /// Transitions of the history already recorded.
    seen: usize,
}

impl RunRecorder {
    /// A run starting now, in Startup.
    pub fn start(mode: SyncMode) -> Self {
        let started = Instant::now();
        Self {
            started_wall: SystemTime::now(),
            started,
            mode,
            entered: vec![(Phase::Startup, None, started)],
            seen: 0,
        }
    }

    /// Records the transitions of `history` not seen yet as taken now (call after each event:
    /// the machine takes them while handling it).
    pub fn observe(&mut self, history: &[Taken]) {
        let now = Instant::now();
        for t in history.iter().skip(self.seen) {
            self.entered
                .push((t.to, t.on.map(|k| k.diagram_name()), now));
        }
        self.seen = self.seen.max(history.len());
    }

    /// The report of the run ending now with `status`.
    pub fn finish(
        mut self,
        history: &[Taken],
        stats: Option<&SyncStats>,
        status: &ExitStatus,
    ) -> RunReport {
        self.observe(history);
        let end = Instant::now();
        let at = |i: Instant| i.duration_since(self.started).as_secs_f64();
        let phases = self
            .entered
            .iter()
            .enumerate()
            .map(|(i, (phase, on, since))| {
                let until = self.entered.get(i + 1).map_or(end, |next| next.2);
                PhaseSpan {
                    phase: phase.label(),
                    entered_on: *on,
                    entered_at_secs: at(*since),
                    secs: until.duration_since(*since).as_secs_f64(),
                }
            })
            .collect();
        let reason = match status {
            ExitStatus::Failed { reason } => reason.clone(),
            _ => history
                .iter()
                .rev()
                .find(|t| t.to == Phase::ShuttingDown)
                .map_or_else(|| "stopped".to_string(), |t| t.reason.clone()),
        };
        let (mode, end_block) = match self.mode {
            SyncMode::Follow => ("follow", None),
            SyncMode::Range { end } => ("range", Some(end.get())),
        };
        RunReport {
            version: env!("CARGO_PKG_VERSION"),
            started_at: rfc3339(self.started_wall),
            duration_secs: at(end),
            mode,
            end_block,
            phases,
            sync: stats.map(SyncStats::snapshot),
            peak_rss_bytes: peak_rss(),
            cpu_seconds_by_stage: crate::stage_cpu::totals()
                .into_iter()
                .map(|(stage, secs)| (stage.label(), secs))
                .collect(),
            exit: RunExit {
                code: status.code(),
                reason,
            },
        }
    }

    /// The file name of this run's report (UTC start time, sortable).
    pub fn file_name(&self) -> String {
        file_name(self.started_wall)
    }
}

/// Writing a report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The data directory does not exist (the run never opened it): no report.
    #[error("data directory {} does not exist", .0.display())]
    NoDataDir(PathBuf),
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The report could not be rendered.
    #[error("rendering the run report: {0}")]
    Render(#[from] serde_json::Error),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ReportError + 'a {
    move |source| ReportError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `report` as `DATA_DIR/reports/<name>` atomically, then deletes all but the newest
/// [`KEEP`] reports. Returns the file written.
pub fn save(data_dir: &Path, name: &str, report: &RunReport) -> Result<PathBuf, ReportError> {
    if !data_dir.is_dir() {
        return Err(ReportError::NoDataDir(data_dir.to_path_buf()));
    }
    let dir = data_dir.join(REPORTS_DIR);
    fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let mut path = dir.join(name);
    // Two runs started in the same millisecond (a second node refused by the lock): keep both.
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{}-{n}.json", name.trim_end_matches(".json")));
        n += 1;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(report)?;
    {
        let mut f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
    }
    fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", &dir))?;
    prune(&dir, KEEP)?;
    Ok(path)
}

/// Deletes all but the newest `keep` reports in `dir` (names sort by start time), and tmp files
/// left by a run that died while writing.
pub fn prune(dir: &Path, keep: usize) -> Result<(), ReportError> {
    let mut reports = Vec::new();
    for entry in fs::read_dir(dir).map_err(io("list", dir))? {
        let entry = entry.map_err(io("list", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("run-") {
            continue;
        }
        if name.ends_with(".json.tmp") {
            let _ = fs::remove_file(entry.path());
        } else if name.ends_with(".json") {
            reports.push(name);
        }
    }
    reports.sort();
    let excess = reports.len().saturating_sub(keep);
    for name in &reports[..excess] {
        let path = dir.join(name);
        fs::remove_file(&path).map_err(io("remove", &path))?;
    }
    Ok(())
}

/// The newest report in `data_dir`, if any (for `histd db stats`).
pub fn latest(data_dir: &Path) -> Option<PathBuf> {
    let dir = data_dir.join(REPORTS_DIR);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("run-") && n.ends_with(".json"))
        .collect();
    names.sort();
    names.pop().map(|n| dir.join(n))
}

/// Peak resident set size of this process in bytes (`VmHWM` of `/proc/self/status`).
pub fn peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `run-YYYYMMDDTHHMMSS.mmmZ.json` for a start time.
pub fn file_name(t: SystemTime) -> String {
    let (date, time, ms) = civil(t);
    format!(
        "run-{:04}{:02}{:02}T{:02}{:02}{:02}.{ms:03}Z.json",
        date.0, date.1, date.2, time.0, time.1, time.2
    )
}

/// RFC 3339 UTC with milliseconds.
fn rfc3339(t: SystemTime) -> String {
    let (date, time, ms) = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        date.0, date.1, date.2, time.0, time.1, time.2
    )
}

/// (year, month, day), (hour, minute, second), millisecond in UTC.
fn civil(t: SystemTime) -> ((i64, u32, u32), (u64, u64, u64), u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        (year, month, day),
        (rem / 3600, rem % 3600 / 60, rem % 60),
        d.subsec_millis(),
    )
}
