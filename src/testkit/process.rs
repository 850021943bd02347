//! The real `histd` binary as a child process: its JSON log lines (stderr) collected on a thread,
//! waits with a deadline, real signals, and a kill on drop so no test leaves a daemon behind; and
//! the `histd-testnet` binary as a child process ([`TestnetProcess`]: its peers, head and
//! chain.toml, killed on drop).
//!
//! The binaries' paths is a parameter: `env!("CARGO_BIN_EXE_histd")` exists only in test crates.

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
        match recv_until(&self.lines, &mut self.seen, within, |v| {
            pred(v).then(|| v.clone())
        }) {
            Ok(v) => v,
            // Timed out or exited: either way the line never came.
            Err(_) => panic!("no log line for {what:?}; seen:\n{:#?}", self.seen),
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

/// Receives `lines` (a child's output, read on a thread) into `seen` until `pick` takes one, within
/// `within`: what `pick` made of it, or why none came (timed out, or the child's output ended).
/// The one wait-for-a-line loop of the testkit's child processes, whatever their line type.
pub(crate) fn recv_until<T, R>(
    lines: &Receiver<T>,
    seen: &mut Vec<T>,
    within: Duration,
    mut pick: impl FnMut(&T) -> Option<R>,
) -> Result<R, RecvTimeoutError> {
    let deadline = Instant::now() + within;
    loop {
        let line = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))?;
        let picked = pick(&line);
        seen.push(line);
        if let Some(r) = picked {
            return Ok(r);
        }
    }
}

/// A running `histd-testnet` (the binary, in its own process): its peers' enode URLs, its head and
/// its chain.toml, read from the lines it prints at start; killed on drop.
pub struct TestnetProcess {
    child: Child,
    /// One `enode://` URL per peer, in peer order.
    pub enodes: Vec<String>,
    /// The head block's number.
    pub head: u64,
    /// The chain.toml it wrote (for `histd --chain`).
    pub chain_toml: std::path::PathBuf,
}

impl TestnetProcess {
    /// Runs `bin` (`histd-testnet`) with `args` (which must include `--out DIR`) and waits until it
    /// has printed its peers, head and chain.toml (building a long mainnet-like chain takes a while:
    /// there is no deadline). Fails with what it printed if it exits first.
    pub fn spawn(
        bin: impl AsRef<OsStr>,
        args: &[std::ffi::OsString],
    ) -> Result<Self, std::io::Error> {
        let mut child = Command::new(bin)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("histd-testnet: stdout is not piped"))?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut enodes, mut head, mut chain_toml) = (Vec::new(), None, None);
        while chain_toml.is_none() {
            let Some(line) = lines.next().transpose()? else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::io::Error::other(format!(
                    "histd-testnet exited before printing its chain.toml (peers {enodes:?}, head {head:?})"
                )));
            };
            if let Some(url) = line.strip_prefix("ENODE ") {
                enodes.push(url.to_owned());
            } else if let Some(rest) = line.strip_prefix("HEAD ") {
                head = rest.split(' ').next().and_then(|n| n.parse::<u64>().ok());
            } else if let Some(path) = line.strip_prefix("CHAIN ") {
                chain_toml = Some(std::path::PathBuf::from(path));
            }
        }
        // The rest of its output (request counts at exit) is not needed: drain it so the pipe
        // never fills.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        let head = head.ok_or_else(|| std::io::Error::other("histd-testnet printed no HEAD"))?;
        Ok(Self {
            child,
            enodes,
            head,
            chain_toml: chain_toml.unwrap_or_default(),
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TestnetProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
