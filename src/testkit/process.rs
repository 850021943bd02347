//! The real `histd` binary as a child process: its JSON log lines (stderr) collected on a thread,
//! waits with a deadline, real signals, and a kill on drop so no test leaves a daemon behind.
//!
//! The binary's path is a parameter: `env!("CARGO_BIN_EXE_histd")` exists only in test crates.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any wait on the child may take before the test fails with what it saw.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A running `histd` and the log lines seen so far.
pub struct HistdProcess {
    child: Child,
    lines: Receiver<Value>,
    /// Every log line received, in order (non-JSON lines as `{"message": line, "raw": true}`).
    pub seen: Vec<Value>,
}

impl HistdProcess {
    /// Spawns `cmd` (a `histd` command line) with stderr captured and the environment variables
    /// that would change its behaviour removed unless the caller sets them again afterwards.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn histd");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "message": line, "raw": true }));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: vec![],
        }
    }

    /// A command running the `histd` binary at `bin` (in a test crate:
    /// `env!("CARGO_BIN_EXE_histd")`) with the environment cleared of `RUST_LOG`, `HISTD_CONFIG` and
    /// `HISTD_TESTKIT_SCRIPT`.
    pub fn command(bin: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(bin);
        cmd.env_remove("RUST_LOG")
            .env_remove("HISTD_CONFIG")
            .env_remove("HISTD_TESTKIT_SCRIPT");
        cmd
    }

    /// Waits for a log line matching `pred` (lines already seen count too).
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_within(TIMEOUT, what, pred)
    }

    /// [`Self::wait_for`] with its own deadline.
    pub fn wait_for_within(
        &mut self,
        within: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!("no log line for {what:?}; seen:\n{:#?}", self.seen)
                }
            }
        }
    }

    /// Waits for the logged phase transition `from -> to`.
    pub fn wait_transition(&mut self, from: &str, to: &str) -> Value {
        self.wait_for(&format!("{from} -> {to}"), |v| {
            v["message"] == "phase transition" && v["from"] == from && v["to"] == to
        })
    }

    /// Sends `sig` to the child.
    pub fn signal(&self, sig: libc::c_int) {
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the child to exit, then collects its remaining log lines.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_within(TIMEOUT)
    }

    /// [`Self::wait_exit`] with its own deadline (a sync run takes longer than a phase change).
    pub fn wait_exit_within(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(v) = self.lines.recv_timeout(Duration::from_millis(500)) {
                    self.seen.push(v);
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("histd did not exit; seen:\n{:#?}", self.seen);
            }
            // Keep what it logs meanwhile, so a failure shows how far it got.
            while let Ok(v) = self.lines.try_recv() {
                self.seen.push(v);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether a phase transition into `phase` was logged.
    pub fn entered(&self, phase: &str) -> bool {
        self.seen
            .iter()
            .any(|v| v["message"] == "phase transition" && v["to"] == phase)
    }

    /// The child's process id (for `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child at once (SIGKILL: no shutdown, no flush) and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(v) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(v);
        }
    }

    /// Whether any log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.seen.iter().any(|v| v.to_string().contains(text))
    }
}

impl Drop for HistdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
