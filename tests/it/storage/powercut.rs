//! Power cuts and fault walks on a simulated disk (`histd::storage::sim`): the real storage code,
//! shard files and redb's own file together, over an in-memory disk that loses unsynced writes.
//!
//! - Power cut: a scenario of puts, compactions, seals, appends and rollbacks is cut at every fsync
//!   (shard file, directory or redb) and at seeded random operations between; the surviving state
//!   (per file a random prefix of its unsynced writes, directories as last fsynced) is reopened
//!   with the real code. Every acknowledged write reads back bit-identical, nothing of the write
//!   in flight is half-visible (the store is exactly the model before or after it), `db verify`
//!   passes.
//! - Fault walk: each operation of the scenario in turn fails once (ENOSPC, EIO, a short write) or
//!   for good (EIO from there on). The store finishes the operation or refuses it with an error
//!   and commits nothing half-done; a reopen is consistent and verifies.
//!
//! Two scenarios. The full one (40 blocks, ~2,100 operations) is cut at every one of its fsyncs
//! plus seeded points between, and its fault walk is a seeded sample spread over every kind of
//! operation (`HISTD_POWERCUT_ALL=1` cuts and faults every operation: many minutes in a debug
//! build). The compact one has the same kinds of steps on fewer blocks (430 operations), and
//! every one of its operations is cut and faulted, every run. The counts are printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::storage::fault;
use histd::storage::sim::{Fault, OpKind, Plan, SimDisk};
use histd::storage::{OpenOptions, Retention, Storage, WriteError};
use histd::testkit::storage::{Canon, Model, Op, Rng, check_store, crash_workload};

const SHARD: u64 = 8;

/// A workload and how far its blocks are checked after a reopen.
struct Scenario {
    name: &'static str,
    ops: Vec<Op>,
    /// Blocks `0..upto` are compared with the model (a little past the last one).
    upto: u64,
}

impl Scenario {
    fn new(name: &'static str, seed: u64, fast: u64, total: u64) -> Self {
        Self {
            name,
            ops: crash_workload(seed, SHARD, fast, total),
            upto: total + 4,
        }
    }
}

/// Puts of 24 blocks over three shards with compactions, then appends to 40 with rollbacks.
fn full() -> Scenario {
    Scenario::new("full", 16, 24, 40)
}

/// The same kinds of steps on fewer blocks (two shards fast-synced, appends into a third), small
/// enough to cut and fault at every operation in a CI run.
fn compact() -> Scenario {
    let sc = Scenario::new("compact", 16, 12, 20);
    let has = |f: fn(&Op) -> bool| sc.ops.iter().any(f);
    assert!(
        has(|o| matches!(o, Op::Put(_)))
            && has(|o| matches!(o, Op::Compact(_)))
            && has(|o| matches!(o, Op::CompactDirty))
            && has(|o| matches!(o, Op::Seal(_)))
            && has(|o| matches!(o, Op::Append(_)))
            && has(|o| matches!(o, Op::Rollback(_))),
        "the compact scenario lacks a kind of step"
    );
    sc
}

fn opts() -> OpenOptions {
    OpenOptions {
        chain_id: 1,
        genesis_hash: B256::ZERO,
        shard_size: SHARD,
        retention: Retention::default(),
    }
}

/// A data directory path no other test (or run) uses: the durability ledger and the memory of
/// durable directories are per path and per process.
fn data_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    PathBuf::from(format!(
        "/powercut-sim-{}/data",
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn exhaustive() -> bool {
    std::env::var("HISTD_POWERCUT_ALL").is_ok_and(|v| v == "1")
}

/// How a run ended.
struct Run {
    /// The model of every acknowledged operation.
    acked: Model,
    /// The model had the operation in flight when the disk failed also completed.
    inflight: Option<Model>,
    /// The error it returned.
    error: Option<WriteError>,
    /// Whether opening the store failed.
    open_failed: bool,
}

/// Opens the store on `sim` and runs `ops` until one fails.
fn run(sim: &SimDisk, data: &std::path::Path, ops: &[Op]) -> Run {
    let mut out = Run {
        acked: Model::default(),
        inflight: None,
        error: None,
        open_failed: false,
    };
    let store = match Storage::open_on(sim.disk(), data, opts()) {
        Ok(s) => s,
        Err(_) => {
            out.open_failed = true;
            return out;
        }
    };
    for op in ops {
        let mut after = out.acked.clone();
        op.apply(&mut after);
        let failures = sim.failures();
        match op.run(&store) {
            Ok(()) => {
                out.acked = after;
                if sim.is_dead() {
                    // The power went in the operation's best-effort cleanup, after its commit.
                    break;
                }
                if sim.failures() > failures {
                    // A fault the operation absorbed (cleanup after its commit point) left
                    // unsynced garbage that no commit references: the ledger stops tracking it,
                    // as the store itself abandons it.
                    fault::clear(data);
                }
            }
            Err(e) => {
                out.inflight = Some(after);
                out.error = Some(e);
                break;
            }
        }
    }
    drop(store);
    out
}

/// Reopens with the real code on what the disk holds and checks it is the model before or after
/// the operation in flight, and verifies.
fn reopen_and_check(sim: &SimDisk, data: &std::path::Path, upto: u64, r: &Run, what: &str) {
    // Bytes the dead run left unsynced are not this process's to track any more.
    fault::clear(data);
    let store = Storage::open_on(sim.disk(), data, opts())
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    if let Err(before) = check_store(&store, &r.acked, upto) {
        match &r.inflight {
            Some(after) => check_store(&store, after, upto).unwrap_or_else(|e| {
                panic!("{what}: the store is neither before ({before}) nor after ({e}) the operation in flight")
            }),
            None => panic!("{what}: acknowledged writes lost: {before}"),
        }
    }
    store
        .verify()
        .unwrap_or_else(|e| panic!("{what}: verify failed: {e}"));
    // The reopened store keeps working: the scenario's last steps go through.
    Op::CompactDirty
        .run(&store)
        .unwrap_or_else(|e| panic!("{what}: compaction after reopen: {e}"));
    drop(store);
    fault::clear(data);
}

/// Operation numbers to try: all (`sample` is `None`), or for every kind of operation up to a
/// share of the budget spread evenly over the scenario, then a seeded sample of the rest.
fn pick(ops: &[histd::storage::sim::Op], seed: u64, sample: Option<usize>) -> Vec<u64> {
    let Some(sample) = sample else {
        return (0..ops.len() as u64).collect();
    };
    let mut by_kind: BTreeMap<(OpKind, bool), Vec<u64>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_kind
            .entry((op.kind, op.index))
            .or_default()
            .push(i as u64);
    }
    let share = (sample / 2 / by_kind.len().max(1)).max(1);
    let mut out: Vec<u64> = Vec::new();
    let mut rest: Vec<u64> = Vec::new();
    for at in by_kind.values() {
        if at.len() <= share {
            out.extend(at);
            continue;
        }
        let step = at.len() as f64 / share as f64;
        let chosen: Vec<u64> = (0..share).map(|j| at[(j as f64 * step) as usize]).collect();
        rest.extend(at.iter().filter(|a| !chosen.contains(a)));
        out.extend(chosen);
    }
    let mut rng = Rng::new(seed);
    while out.len() < sample && !rest.is_empty() {
        let j = rng.below(rest.len() as u64) as usize;
        out.push(rest.swap_remove(j));
    }
    out.sort_unstable();
    out
}

fn describe(ops: &[histd::storage::sim::Op], at: u64) -> String {
    let op = ops[at as usize];
    format!(
        "op {at} ({:?}{})",
        op.kind,
        if op.index { " index.redb" } else { "" }
    )
}

/// The scenario's operations on a healthy disk, and the model it ends with.
fn dry_run(ops: &[Op]) -> (Vec<histd::storage::sim::Op>, Model) {
    let sim = SimDisk::new();
    let data = data_dir();
    let r = run(&sim, &data, ops);
    assert!(
        r.error.is_none() && !r.open_failed,
        "the scenario runs on a healthy disk: {:?}",
        r.error
    );
    (sim.ops(), r.acked)
}

/// Cuts the power in `sc` at every fsync (file, directory, redb) and at `between` seeded other
/// operations (`None`: at every operation); each cut is reopened and checked. Returns the
/// operations cut and the scenario's operation and fsync counts.
fn power_cuts(sc: &Scenario, between: Option<usize>) -> (Vec<u64>, u64, usize) {
    let (trace, _) = dry_run(&sc.ops);
    let n = trace.len() as u64;
    let syncs: Vec<u64> = trace
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o.kind, OpKind::Sync | OpKind::DirSync))
        .map(|(i, _)| i as u64)
        .collect();
    let mut cuts = syncs.clone();
    match between {
        Some(k) => {
            let mut rng = Rng::new(77);
            for _ in 0..k {
                cuts.push(rng.below(n));
            }
        }
        None => cuts = (0..n).collect(),
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut inflight_done = 0u32;
    for (j, &at) in cuts.iter().enumerate() {
        let sim = SimDisk::new();
        let data = data_dir();
        sim.set_plan(Plan::CutAt(at));
        let r = run(&sim, &data, &sc.ops);
        assert!(
            sim.is_dead(),
            "{}: cut at {at} of {n} never happened",
            sc.name
        );
        sim.power_cut(1000 + j as u64);
        let what = format!("{}: cut at {}", sc.name, describe(&trace, at));
        reopen_and_check(&sim, &data, sc.upto, &r, &what);
        if r.inflight.is_some() {
            inflight_done += 1;
        }
    }
    println!(
        "power cuts ({} scenario): {} of {n} operations, every one of its {} fsyncs among them; {inflight_done} with an operation in flight",
        sc.name,
        cuts.len(),
        syncs.len()
    );
    // Every fsync boundary was cut at, whatever was sampled.
    assert!(syncs.iter().all(|s| cuts.binary_search(s).is_ok()));
    (cuts, n, syncs.len())
}

#[test]
fn a_power_cut_at_every_fsync_loses_nothing_acknowledged() {
    let sc = full();
    let (cuts, n, syncs) = power_cuts(&sc, (!exhaustive()).then_some(200));
    assert!(syncs >= 200, "the scenario has {syncs} fsyncs");
    assert!(
        cuts.len() as u64 == n || cuts.len() >= syncs + 150,
        "{}",
        cuts.len()
    );
}

#[test]
fn a_power_cut_at_every_operation_of_the_compact_scenario_loses_nothing_acknowledged() {
    let sc = compact();
    let (cuts, n, syncs) = power_cuts(&sc, None);
    assert_eq!(cuts.len() as u64, n);
    assert!(syncs >= 50, "the compact scenario has {syncs} fsyncs");
}

/// A fault plan for operation number `at`.
type MakePlan = fn(u64) -> Plan;

/// Fails operations of `sc` (every one with `sample` `None`, else a spread sample of that size per
/// plan): once with ENOSPC, once with EIO, for good with EIO, and writes short. Each run must
/// finish or refuse cleanly and reopen consistent. Checks every kind of operation was faulted;
/// returns the faulted runs and the scenario's operation count.
fn fault_walk(sc: &Scenario, sample: Option<usize>) -> (u64, u64) {
    let ops = &sc.ops;
    let (trace, _) = dry_run(ops);
    let mut tally: BTreeMap<String, u64> = BTreeMap::new();
    let mut disk_full = 0u32;
    let plans: [(&str, MakePlan); 3] = [
        ("ENOSPC once", |at| Plan::Once {
            at,
            fault: Fault::NoSpace,
        }),
        ("EIO once", |at| Plan::Once {
            at,
            fault: Fault::Io,
        }),
        ("EIO for good", Plan::FailFrom),
    ];
    let mut runs = 0u64;
    for (pi, (name, plan)) in plans.iter().enumerate() {
        for at in pick(&trace, 300 + pi as u64, sample) {
            runs += 1;
            let sim = SimDisk::new();
            let data = data_dir();
            sim.set_plan(plan(at));
            let r = run(&sim, &data, ops);
            let what = format!("{}: {name} at {}", sc.name, describe(&trace, at));
            if let Some(e) = &r.error {
                assert!(
                    matches!(
                        e,
                        WriteError::Io(_)
                            | WriteError::Index(_)
                            | WriteError::DiskFull { .. }
                            | WriteError::Read(_)
                    ),
                    "{what}: an injected fault must surface as an I/O error, got {e}"
                );
                if matches!(e, WriteError::DiskFull { .. }) {
                    disk_full += 1;
                }
            }
            sim.restart();
            reopen_and_check(&sim, &data, sc.upto, &r, &what);
            let op = trace[at as usize];
            let on = if op.index { " (index.redb)" } else { "" };
            *tally
                .entry(format!("{name} {:?}{on}", op.kind))
                .or_insert(0) += 1;
        }
    }
    // Short writes: a write that stores half and says so. The writers loop, so the operation
    // finishes with every byte in place.
    let mut short = 0u64;
    for at in pick(&trace, 400, sample) {
        if trace[at as usize].kind != OpKind::Write {
            continue;
        }
        short += 1;
        let sim = SimDisk::new();
        let data = data_dir();
        sim.set_plan(Plan::Once {
            at,
            fault: Fault::ShortWrite,
        });
        let r = run(&sim, &data, ops);
        let what = format!("{}: short write at {}", sc.name, describe(&trace, at));
        assert!(r.error.is_none(), "{what}: {:?}", r.error);
        reopen_and_check(&sim, &data, sc.upto, &r, &what);
    }
    println!(
        "fault walk ({} scenario): {runs} faulted runs + {short} short writes over {} operations; {disk_full} surfaced as DiskFull; by kind: {tally:?}",
        sc.name,
        trace.len()
    );
    assert!(disk_full > 0, "no ENOSPC surfaced as WriteError::DiskFull");
    for kind in [
        OpKind::Read,
        OpKind::Write,
        OpKind::Sync,
        OpKind::DirSync,
        OpKind::Rename,
    ] {
        assert!(
            tally.keys().any(|k| k.ends_with(&format!("{kind:?}"))),
            "no fault on a {kind:?}"
        );
    }
    // redb's own I/O: its commits' writes and fsyncs fail too.
    for kind in [OpKind::Write, OpKind::Sync] {
        assert!(
            tally
                .keys()
                .any(|k| k.ends_with(&format!("{kind:?} (index.redb)"))),
            "no fault on an index.redb {kind:?}"
        );
    }
    (runs, trace.len() as u64)
}

#[test]
fn the_fault_walk_finishes_or_refuses_cleanly() {
    let sample = (!exhaustive()).then_some(150);
    let (runs, n) = fault_walk(&full(), sample);
    assert!(runs >= 3 * 150 || runs == 3 * n, "{runs}");
}

#[test]
fn the_fault_walk_of_the_compact_scenario_faults_every_operation() {
    let (runs, n) = fault_walk(&compact(), None);
    assert_eq!(runs, 3 * n, "every operation under each of the three plans");
}

/// A full disk on a WAL append: the put is refused with [`WriteError::DiskFull`] naming the
/// file, nothing is committed, and once space is back the same put succeeds.
#[test]
fn enospc_on_a_shard_write_is_disk_full_and_retry_succeeds() {
    let sim = SimDisk::new();
    let data = data_dir();
    let store = Storage::open_on(sim.disk(), &data, opts()).unwrap();
    let mut canon = Canon::new(5, SHARD);
    let put = Op::Put((0..4).map(|n| canon.get(n)).collect());
    // Find the first shard-file write of the put on a dry copy.
    let probe = SimDisk::new();
    let pdata = data_dir();
    let pstore = Storage::open_on(probe.disk(), &pdata, opts()).unwrap();
    let base = probe.op_count();
    put.run(&pstore).unwrap();
    let first_write = probe.ops()[base as usize..]
        .iter()
        .position(|o| o.kind == OpKind::Write && !o.index)
        .expect("a shard write") as u64;
    drop(pstore);
    sim.set_plan(Plan::Once {
        at: sim.op_count() + first_write,
        fault: Fault::NoSpace,
    });
    let err = put.run(&store).unwrap_err();
    assert!(
        matches!(&err, WriteError::DiskFull { what, .. } if what.contains("wal")),
        "{err}"
    );
    fault::clear(&data);
    let model = Model::default();
    check_store(&store, &model, SHARD).unwrap();
    put.run(&store).unwrap();
    let mut model = model;
    put.apply(&mut model);
    check_store(&store, &model, SHARD).unwrap();
}
