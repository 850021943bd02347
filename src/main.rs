//! The `histd` binary: parse the CLI, load the config, dispatch to the subcommand, turn the outcome
//! into an exit code (`histd::daemon::Exit`, documented in the README). Thin on purpose.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use histd::cli::db::DbCommand;
use histd::cli::era1::{ExportCommand, ImportCommand};
use histd::cli::{Cli, Command, ConfigCommand};
use histd::config::{Config, ConfigError, Override};
use histd::daemon::{self, Exit, PhaseWorkers};

/// glibc's allocator, tuned before any thread starts. Measured on fast-sync (README "Memory"):
/// with its defaults, every thread that allocates gets its own arena (up to 8 per core) and
/// freed space stays split across them, and its mmap threshold rises to 32 MiB after the first
/// large free, so 2 MiB answers and 1 MiB write buffers come from the arenas and fragment them;
/// peak RSS then grew with the range synced (10,000 synthetic blocks, debug: 67 MiB against
/// 48 MiB with two arenas and a fixed 128 KiB threshold, at the same speed). An allocator crate
/// did not do better here (mimalloc 126 MiB, jemalloc 60 MiB) and costs build time. Then starts
/// the thread that trims the heaps ([`trim_heaps`]). Only for the long-running commands
/// ([`tunes_allocator`]): a one-shot command exits before either pays off.
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; it runs in main right after the arguments
    // are parsed, before any other thread exists. A refused value (return 0) leaves glibc's
    // default: not an error.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // Kept at 128 KiB: 4 MiB took some more page faults away (README "Ingest CPU", both
        // times measured) but no CPU measurably, for more peak RSS.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    // Without the thread (it could not start) histd only keeps more memory: not an error.
    let _ = std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(trim_heaps);
}

/// Gives free heap pages back to the kernel whenever the heaps hold more of them resident than
/// [`trim_floor`] allows, checked every [`TRIM_EVERY`]; never returns.
///
/// glibc gives memory back only from the top of a heap, and fast-sync's long-lived small
/// allocations (redb's cached pages, peer state) pin the top while freed block buffers below
/// them stay resident: RSS rose with the range far more than the live heap (README "Memory").
/// `malloc_trim` also releases the free pages inside a heap. Until 2026-12-01 it ran every
/// 250 ms whatever the heaps held, and caused most of histd's page faults: it gave back the few
/// MiB the next batch needed and the batch faulted them in again. A slower clock took the faults
/// away but let `tests/it/sync/memory.rs` grow toward its bound, since a clock bounds nothing in
/// bytes. So the rule is in bytes: trim when the free pages held resident grew by more than the
/// floor since the last trim. Measured (README "Ingest CPU", 2026-12-01): fast-sync's arenas then
/// stay under it and the trims come when the sync ends: page faults −4 to −32% (5,000 blocks)
/// and −55 to −63% (20,000), system CPU −8 to −41%, peak RSS −7 to +16 MiB, the memory test as
/// it was.
fn trim_heaps() {
    let mut settled = heap_slack();
    loop {
        std::thread::sleep(TRIM_EVERY);
        let (Some(now), Some(before)) = (heap_slack(), settled) else {
            // No /proc (or a refused read): trim by the clock as before rather than never.
            trim_now();
            settled = heap_slack();
            continue;
        };
        if now.slack.saturating_sub(before.slack) > trim_floor(now.in_use) {
            trim_now();
            settled = heap_slack();
        }
    }
}

/// Returns free pages of every arena, inside a heap or at its top, to the kernel.
fn trim_now() {
    // SAFETY: malloc_trim only returns free pages to the kernel; it takes each arena's lock like
    // any allocation, and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How much more free heap [`trim_heaps`] lets the process hold resident before it trims: an
/// eighth of what is in use, at least 4 MiB. Proportional, because one figure does not fit both
/// sizes of heap measured: 16 MiB was never reached by mainnet fast-sync's ~180 MiB in use (its
/// free space settles at 20-30 MiB and is reused), but let the synthetic memory test's ~15 MiB
/// heap grow +9.0 to +13.5 MiB against +7.6 to +9.3 trimming every 250 ms; 4 MiB kept that test
/// as it was, but 8 MiB already trimmed mainnet sync every other check, about as often as the
/// clock did.
fn trim_floor(in_use: usize) -> usize {
    (in_use / 8).max(4 << 20)
}

/// What the heaps hold, read by [`heap_slack`].
#[derive(Clone, Copy)]
struct HeapSlack {
    /// Resident bytes not in use by any allocation: free heap pages kept resident, plus what is
    /// not heap at all (code, stacks), which changes little and cancels between two readings.
    slack: usize,
    /// Bytes in use: in the arenas and in mmapped chunks.
    in_use: usize,
}

/// The process's resident size against what its allocations use. `mallinfo2`'s free bytes
/// (`fordblks`) cannot serve: they still count a free chunk after `malloc_trim` released its
/// pages, so past the threshold every check would trim again. `mallinfo2` walks every free
/// chunk under each arena's lock: 0.6 ms a call (median, wall clock, 1.2 ms at p90, on fast-sync's
/// heap of 150 MiB, 2 cores shared), against 1.9 ms for a `malloc_trim`; reading `statm` 0.05 ms.
fn heap_slack() -> Option<HeapSlack> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant; mallinfo2 only reads the allocator's
    // counters (taking each arena's lock) and returns them by value. glibc has had it since
    // 2.33 (the `libc` crate declares it for gnu targets).
    let (page_size, info) = unsafe { (libc::sysconf(libc::_SC_PAGESIZE), libc::mallinfo2()) };
    let resident = pages.checked_mul(usize::try_from(page_size).ok()?)?;
    let in_use = info.uordblks.saturating_add(info.hblkhd);
    Some(HeapSlack {
        slack: resident.saturating_sub(in_use),
        in_use,
    })
}

/// Raises the soft limit on open descriptors to the hard limit (Linux starts most processes at
/// a soft 1,024): the storage keeps every sealed shard's index files open, sized from the soft
/// limit it finds (`storage::open_files::Budget`; mainnet has some 2,300 shards), beside peer
/// sessions and RPC connections. A refused raise leaves the limit, and the caches smaller: not
/// an error.
fn raise_descriptor_limit() {
    if let Some((soft, hard)) = histd::storage::descriptor_limits()
        && soft < hard
    {
        let lim = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit only reads the struct it is given.
        unsafe {
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// How often [`trim_heaps`] looks at what the heaps hold: what can pile up in between is what
/// one interval of fast-sync frees (a check costs ~0.6 ms, README "Ingest CPU").
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// The process exit code for `exit` (the numbers live in `histd::daemon::exit`).
fn code(exit: Exit) -> ExitCode {
    ExitCode::from(exit.code())
}

/// Whether `command` runs long enough (syncing, following, serving, importing era1 history
/// through fast-sync's writer) for [`tune_allocator`]: not `config check`, `db`, `export`. A
/// match without a wildcard, so a new command decides.
fn tunes_allocator(command: &Command) -> bool {
    match command {
        Command::Run | Command::Serve(_) | Command::Import(_) => true,
        Command::Config(_) | Command::Db(_) | Command::Export(_) => false,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_descriptor_limit();
    if tunes_allocator(&cli.command) {
        tune_allocator();
    }
    let overrides = cli.overrides.to_overrides();
    match cli.command {
        Command::Config(ConfigCommand::Check) => config_check(cli.config.as_deref(), &overrides),
        Command::Run => run(cli.config.as_deref(), &overrides, cli.verbose),
        Command::Db(cmd) => db(cli.config.as_deref(), &overrides, &cmd),
        Command::Serve(args) => serve(cli.config.as_deref(), &overrides, cli.verbose, &args),
        Command::Import(cmd) => era1_import(cli.config.as_deref(), &overrides, &cmd),
        Command::Export(cmd) => era1_export(cli.config.as_deref(), &overrides, &cmd),
    }
}

/// `histd serve`: JSON-RPC on a stopped node's data directory until Ctrl-C / SIGTERM.
fn serve(
    path: Option<&Path>,
    overrides: &[Override],
    verbose: u8,
    args: &histd::cli::serve::ServeArgs,
) -> ExitCode {
    let config = match load(path, overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    daemon::logging::init(config.log.format, verbose);
    let ready = |addr: std::net::SocketAddr| {
        // Scripts and tests read the address from here (the port, when bind asked for port 0).
        println!("histd serve: listening on http://{addr} (WebSocket ws://{addr})");
    };
    match histd::cli::serve::run(&config, args, ready) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("histd serve: {e}");
            code(if e.is_bind_failure() {
                Exit::Config
            } else {
                Exit::Fatal
            })
        }
    }
}

/// `histd db ...`: runs on the configured data directory; the lock file refuses a running node's.
fn db(path: Option<&Path>, overrides: &[Override], cmd: &DbCommand) -> ExitCode {
    let config = match load(path, overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // A follow node may still roll back its last `rollback_window` blocks: compaction must not
    // seal them.
    let window = match config.sync.end_block {
        Some(_) => 0,
        None => config.sync.rollback_window,
    };
    match histd::cli::db::run_in(&config.data_dir, cmd, window) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("histd db: {}: {e}", config.data_dir.display());
            code(Exit::Fatal)
        }
    }
}

/// `histd import era1 PATH...`: one progress line per file on stdout, the error on stderr.
fn era1_import(path: Option<&Path>, overrides: &[Override], cmd: &ImportCommand) -> ExitCode {
    let config = match load(path, overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ImportCommand::Era1 { paths } = cmd;
    match histd::cli::era1::import(&config, paths, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("histd import era1: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `histd export era1 --from N --to M OUT_DIR`.
fn era1_export(path: Option<&Path>, overrides: &[Override], cmd: &ExportCommand) -> ExitCode {
    let config = match load(path, overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ExportCommand::Era1 { from, to, out_dir } = cmd;
    match histd::cli::era1::export(&config, *from, *to, out_dir, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("histd export era1: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<&Path>, overrides: &[Override]) -> Result<Config, ExitCode> {
    Config::load(path, overrides).map_err(|e| {
        report_config_error(&e);
        code(Exit::Config)
    })
}

fn report_config_error(e: &ConfigError) {
    for line in e.lines() {
        eprintln!("config error: {line}");
    }
}

fn config_check(path: Option<&Path>, overrides: &[Override]) -> ExitCode {
    let config = match load(path, overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match config.to_toml() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            report_config_error(&e);
            code(Exit::Config)
        }
    }
}

fn run(path: Option<&Path>, overrides: &[Override], verbose: u8) -> ExitCode {
    let config = match load(path, overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    daemon::logging::init(config.log.format, verbose);
    let workers = match select_workers(&config) {
        Ok(w) => w,
        Err(message) => {
            tracing::error!(%message, "cannot start");
            return code(Exit::Fatal);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("histd")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return code(Exit::Fatal);
        }
    };
    // `block_on` keeps the (non-Send) machine on this thread; workers run on the pool.
    match runtime.block_on(daemon::run(&config, workers)) {
        Ok(exit) => code(exit),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the daemon");
            code(e.exit())
        }
    }
}

/// The product's workers; in testkit builds, scripted ones when `HISTD_TESTKIT_SCRIPT` is set.
fn select_workers(config: &Config) -> Result<Box<dyn PhaseWorkers>, String> {
    #[cfg(feature = "testkit")]
    if let Ok(text) = std::env::var(daemon::scripted::SCRIPT_ENV) {
        let script = daemon::scripted::Script::from_json(&text).map_err(|e| {
            format!(
                "{} is not a valid script: {e}",
                daemon::scripted::SCRIPT_ENV
            )
        })?;
        tracing::warn!(
            ?script,
            "testkit build: using SCRIPTED phase workers; nothing is synced"
        );
        return Ok(Box::new(daemon::scripted::ScriptedWorkers::new(script)));
    }
    Ok(Box::new(daemon::node::NodeWorkers::new(config.clone())))
}
