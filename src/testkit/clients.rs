//! The JSON-RPC client driver: real client libraries nobody here wrote — viem (npm) and web3.py
//! (PyPI) — run as `node tests/clients/viem.mjs EXPECT` and `tests/clients/.venv/bin/python
//! tests/clients/web3_client.py EXPECT`, read through the JSON lines they print on stdout.
//!
//! Used by the client tests (`tests/it/rpc/clients.rs`). Starts, reads and stops the scripts only:
//! what they must see is the tests' job. Needs `tests/clients/node_modules` and
//! `tests/clients/.venv` (`scripts/setup-clients.sh`, called by `scripts/setup-test-tools.sh`);
//! every process it starts is killed when its [`ClientProcess`] drops.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::process::recv_until;

/// `tests/clients`: the client scripts and their installed packages.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Which client library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// viem, on Node.js.
    Viem,
    /// web3.py, in the venv of `tests/clients/.venv`.
    Web3Py,
}

impl Client {
    /// The client's installed packages (a file the setup script leaves) and the command line
    /// running its script.
    fn parts(self) -> (PathBuf, PathBuf, PathBuf) {
        let dir = clients_dir();
        match self {
            Client::Viem => (
                dir.join("node_modules/viem/package.json"),
                PathBuf::from("node"),
                dir.join("viem.mjs"),
            ),
            Client::Web3Py => (
                dir.join(".venv/.histd-requirements.sha256"),
                dir.join(".venv/bin/python"),
                dir.join("web3_client.py"),
            ),
        }
    }

    /// Fails at once, naming the setup script, when the client's packages are not installed
    /// (call it before starting anything slow).
    ///
    /// # Panics
    /// When they are not.
    pub fn ensure_installed(self) {
        let (installed, _, _) = self.parts();
        assert!(
            installed.exists(),
            "{} is missing: run scripts/setup-clients.sh (installs viem from \
             tests/clients/package-lock.json and web3.py from tests/clients/requirements.txt)",
            installed.display()
        );
    }

    /// The command running this client's script with `expect` (the test's expectations file).
    ///
    /// # Panics
    /// When the client's packages are not installed: the message names the setup script.
    pub fn command(self, expect: &Path) -> Command {
        self.ensure_installed();
        let (_, program, script) = self.parts();
        let mut cmd = Command::new(program);
        cmd.arg(script).arg(expect).current_dir(clients_dir());
        cmd
    }
}

/// A running client script, killed when dropped.
pub struct ClientProcess {
    what: String,
    child: Child,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stdout line received, in order.
    pub seen: Vec<String>,
}

impl ClientProcess {
    /// Starts `client` on the expectations file `expect`.
    pub fn spawn(client: Client, expect: &Path) -> Self {
        let what = format!("{client:?} client");
        let mut child = client
            .command(expect)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the {what} (Node.js >= 20 and python3 installed?): {e}")
            });
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (tx, stderr) = channel();
        let mut err = child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        Self {
            what,
            child,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line that is JSON and satisfies `pred`, within `within`; panics with
    /// what the client printed when none comes.
    pub fn wait_json(
        &mut self,
        within: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = recv_until(&self.lines, &mut self.seen, within, |line| {
            serde_json::from_str::<Value>(line).ok().filter(&pred)
        });
        match found {
            Ok(v) => v,
            Err(e) => {
                // Timed out: stop it, so its stderr ends; disconnected: it has exited.
                let _ = self.child.kill();
                let status = self.child.wait();
                let why = match e {
                    RecvTimeoutError::Timeout => format!("no {what} within {within:?}"),
                    RecvTimeoutError::Disconnected => {
                        format!("exited ({status:?}) before {what}")
                    }
                };
                panic!(
                    "{}: {why}; stdout: {:#?}\nstderr:\n{}",
                    self.what,
                    self.seen,
                    self.stderr_text()
                )
            }
        }
    }

    /// Waits for the process to exit successfully (within `within`).
    pub fn wait_success(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return,
                Ok(Some(status)) => panic!(
                    "{}: exited with {status}; stderr:\n{}",
                    self.what,
                    self.stderr_text()
                ),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    panic!("{}: still running after {within:?}", self.what)
                }
                Err(e) => panic!("{}: cannot wait: {e}", self.what),
            }
        }
    }

    /// What the client wrote on stderr (after it exited; up to 5 s).
    fn stderr_text(&self) -> String {
        self.stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| "(unavailable)".into())
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
