//! The crash test: a writer child process (this test binary re-executed, running `crash_child`)
//! runs a deterministic workload (fast-sync puts in random order with compactions, then follow
//! appends with rollbacks onto forks and seals) and is killed with SIGKILL at random moments, hundreds
//! of times. After every kill the parent reopens the directory (running repair) and checks that the
//! store reads back exactly the model either before or after the operation in flight: every
//! committed block bit-identical, nothing half-written visible. Periodically (and at the end) it
//! reads every block and runs `verify` (roots, parent links, checksums).
//!
//! Tuning: `HISTD_CRASH_KILLS` (target kills, default 300), `HISTD_CRASH_SECS` (time budget,
//! default 45).

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::storage::{OpenOptions, Retention, Storage};
use histd::testkit::isolated;
use histd::testkit::storage::{
    Model, Op, Rng, check_store, check_store_window, crash_workload, decode_ops, encode_ops,
};

const SHARD: u64 = 50;
const FAST: u64 = 400;
const TOTAL: u64 = 700;

fn opts() -> OpenOptions {
    OpenOptions {
        chain_id: 1,
        genesis_hash: B256::repeat_byte(7),
        shard_size: SHARD,
        retention: Retention::default(),
    }
}

fn env_u64(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

/// The writer. Does nothing unless started by `kill_9_at_random_moments_loses_nothing_committed`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("HISTD_CRASH_DIR") else {
        return;
    };
    let ops_path = std::env::var("HISTD_CRASH_OPS").expect("ops path");
    let start = env_u64("HISTD_CRASH_START").expect("start") as usize;
    let ack_path = std::env::var("HISTD_CRASH_ACK").expect("ack path");
    let ops = decode_ops(&std::fs::read(&ops_path).expect("ops file"));
    let store = Storage::open(Path::new(&dir), opts()).expect("child open");
    let mut ack = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&ack_path)
        .expect("ack file");
    writeln!(ack, "ready").unwrap();
    for (i, op) in ops.iter().enumerate().skip(start) {
        op.run(&store)
            .unwrap_or_else(|e| panic!("op {i} {op:?}: {e}"));
        // Written after the op returned: an acked op is committed (the converse need not hold).
        writeln!(ack, "{i}").unwrap();
    }
    writeln!(ack, "end").unwrap();
}

/// Block range an op can change (to read back after a kill during it).
fn window(op: &Op, model: &Model) -> (u64, u64) {
    match op {
        Op::Put(bs) => {
            let lo = bs.iter().map(|b| b.number().get()).min().unwrap_or(0);
            let hi = bs.iter().map(|b| b.number().get()).max().unwrap_or(0);
            (lo, hi)
        }
        Op::Append(b) => (b.number().get(), b.number().get()),
        Op::Rollback(n) => (*n, model.blocks.keys().next_back().copied().unwrap_or(*n)),
        Op::Compact(s) => (s * SHARD, s * SHARD + SHARD - 1),
        Op::CompactDirty | Op::Seal(_) => {
            let top = model.blocks.keys().next_back().copied().unwrap_or(0);
            (top.saturating_sub(SHARD), top)
        }
    }
}

#[test]
fn kill_9_at_random_moments_loses_nothing_committed() {
    // Alone in a process of its own: between fork and exec each of its hundreds of children holds
    // a copy of every open descriptor, so a store another test just closed would stay `flock`ed
    // and its reopen fail with `Lock(Held)`.
    if !isolated::in_own_process(
        module_path!(),
        "kill_9_at_random_moments_loses_nothing_committed",
    ) {
        return;
    }
    let target = env_u64("HISTD_CRASH_KILLS").unwrap_or(300);
    let budget = Duration::from_secs(env_u64("HISTD_CRASH_SECS").unwrap_or(45));
    let began = Instant::now();
    let mut rng = Rng::new(0xc0ffee);
    let mut kills = 0u64;
    let mut finished_ops = 0usize;
    let mut workloads = 0u64;
    let mut repaired = 0u64;
    let mut interrupted = 0u64;
    // (op kind, committed?) of the op in flight at each kill.
    let mut in_flight: std::collections::BTreeMap<(&str, bool), u64> = Default::default();
    'workloads: while kills < target && began.elapsed() < budget {
        workloads += 1;
        let seed = 1000 + workloads;
        // A kill -9 kills the process, not the machine: the page cache survives it, so tmpfs
        // (fsync is free there) tests exactly the same crash states, faster.
        let dir = if Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm").unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let ack_path = dir.path().join("ack");
        let data = dir.path().join("data");
        let ops_path = dir.path().join("ops");
        let ops = crash_workload(seed, SHARD, FAST, TOTAL);
        std::fs::write(&ops_path, encode_ops(&ops)).unwrap();
        let mut model = Model::default();
        let mut confirmed = 0usize;
        while confirmed < ops.len() {
            if kills >= target || began.elapsed() >= budget {
                finished_ops += confirmed;
                break 'workloads;
            }
            let _ = std::fs::remove_file(&ack_path);
            // By its full name: `crash_child` alone would also match nothing after a move.
            let mut child =
                isolated::command_for(&isolated::test_name(module_path!(), "crash_child"))
                    .env("HISTD_CRASH_DIR", &data)
                    .env("HISTD_CRASH_OPS", &ops_path)
                    .env("HISTD_CRASH_START", confirmed.to_string())
                    .env("HISTD_CRASH_ACK", &ack_path)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
            // Kill only once the child has opened the store, at a random moment of its work.
            let wait_start = Instant::now();
            let mut exited = None;
            loop {
                if std::fs::read_to_string(&ack_path).is_ok_and(|t| t.starts_with("ready")) {
                    break;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    exited = Some(status);
                    break;
                }
                assert!(
                    wait_start.elapsed() < Duration::from_secs(60),
                    "child never got ready"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            if exited.is_none() {
                std::thread::sleep(Duration::from_micros(rng.below(15_000)));
                child.kill().unwrap();
                let status = child.wait().unwrap();
                if status.success() {
                    exited = Some(status);
                } else {
                    kills += 1;
                }
            }
            if let Some(status) = exited {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                assert!(status.success(), "writer child failed: {status}\n{err}");
            }
            let ack = std::fs::read_to_string(&ack_path).unwrap_or_default();
            let acked = ack
                .lines()
                .filter_map(|l| l.parse::<usize>().ok())
                .max()
                .map_or(confirmed, |a| a + 1);
            for op in &ops[confirmed..acked] {
                op.apply(&mut model);
            }
            confirmed = acked;
            let store = Storage::open(&data, opts())
                .unwrap_or_else(|e| panic!("reopen after kill {kills}: {e}"));
            if !store.repair_report().is_clean() {
                repaired += 1;
            }
            interrupted += store.repair_report().interrupted_compactions.len() as u64;
            if let Some(op) = ops.get(confirmed) {
                let mut after = model.clone();
                op.apply(&mut after);
                let (lo, hi) = window(op, &model);
                let hi = hi.max(lo);
                let upto = TOTAL + 8;
                let as_after = check_store_window(&store, &after, lo, hi, upto);
                let kind = match op {
                    Op::Put(_) => "put_unordered",
                    Op::Compact(_) | Op::CompactDirty => "compact",
                    Op::Append(_) => "append_sorted",
                    Op::Rollback(_) => "rollback_to",
                    Op::Seal(_) => "seal",
                };
                *in_flight.entry((kind, as_after.is_ok())).or_default() += 1;
                match as_after {
                    Ok(()) => {
                        model = after;
                        confirmed += 1;
                    }
                    Err(not_after) => {
                        if let Err(before) = check_store_window(&store, &model, lo, hi, upto) {
                            panic!(
                                "kill {kills}, op {confirmed} {op:?}: store matches neither model\n  before: {before}\n  after: {not_after}"
                            );
                        }
                    }
                }
            }
            if kills.is_multiple_of(20) || confirmed >= ops.len() {
                check_store(&store, &model, TOTAL + 8)
                    .unwrap_or_else(|e| panic!("kill {kills}: {e}"));
                store
                    .verify()
                    .unwrap_or_else(|e| panic!("kill {kills}: verify: {e}"));
            }
        }
        finished_ops += confirmed;
    }
    println!(
        "crash test: {kills} kills over {workloads} workloads, {finished_ops} ops confirmed, {:.1}s",
        began.elapsed().as_secs_f64()
    );
    println!(
        "  reopen repaired uncommitted bytes or files after {repaired} kills ({interrupted} interrupted compactions)"
    );
    for ((kind, committed), count) in &in_flight {
        println!(
            "  killed during {kind:<14} {count:>4}x, found {}",
            if *committed {
                "committed"
            } else {
                "not committed"
            }
        );
    }
    assert!(
        kills >= 50.min(target),
        "only {kills} kills fit in the time budget"
    );
}
