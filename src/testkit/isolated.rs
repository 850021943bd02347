//! Running one test alone in a child process of its own test binary, for tests that need process-wide
//! state to themselves (a global metrics recorder whose counters other tests would bump) or that are
//! re-executed as a crash victim.
//!
//! The integration tests are one binary (`tests/it`) whose tests run in parallel threads; such a test
//! re-runs itself by its full libtest name with `--exact`, and checks that the child ran exactly that
//! one test, so a renamed or moved test fails instead of passing having run nothing.

use std::process::Command;

/// Set in the child to the name of the test it runs.
pub const ISOLATED_ENV: &str = "HISTD_ISOLATED_TEST";

/// The libtest name of test `name` in module `module_path` (`module_path!()` of the test): the
/// module path without the crate name, e.g. `storage::crash::crash_child`.
pub fn test_name(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_owned(),
    }
}

/// A command that runs exactly the test `test` (a [`test_name`]) of the current test binary, on
/// one thread, with its output not captured.
pub fn command_for(test: &str) -> Command {
    let exe = std::env::current_exe().expect("the running test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    cmd
}

/// In the parent: re-runs test `name` of `module_path` alone in a child process, asserts that it
/// ran and passed there, and returns `false` (the caller returns). In that child: returns `true`
/// (the caller runs its body).
///
/// ```ignore
/// #[test]
/// fn needs_the_process() {
///     if !histd::testkit::isolated::in_own_process(module_path!(), "needs_the_process") {
///         return;
///     }
///     // ... installs a global recorder ...
/// }
/// ```
pub fn in_own_process(module_path: &str, name: &str) -> bool {
    let test = test_name(module_path, name);
    if std::env::var(ISOLATED_ENV).is_ok_and(|running| running == test) {
        return true;
    }
    let out = command_for(&test)
        .env(ISOLATED_ENV, &test)
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{test} failed in its own process ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // libtest's summary: a filter matching nothing also exits 0.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run in its own process (renamed?):\n{stdout}\n{stderr}"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::test_name;

    #[test]
    fn test_names_drop_the_crate_and_keep_the_modules() {
        assert_eq!(
            test_name("it::storage::crash", "crash_child"),
            "storage::crash::crash_child"
        );
        assert_eq!(test_name("it", "top_level"), "top_level");
    }
}
