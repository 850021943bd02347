//! Logging setup: human lines on a terminal, JSON lines otherwise; `-v`/`-vv` and `RUST_LOG`.
//!
//! Owns the global tracing subscriber. Logs go to stderr so stdout stays for command output
//! (`histd config check` prints the effective config there). It must never be called twice.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the subscriber. `verbosity` counts `-v` flags; `RUST_LOG`, when set, wins.
pub fn init(format: LogFormat, verbosity: u8) {
    let default_level = match verbosity {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("histd: logging already initialised: {e}");
    }
}
