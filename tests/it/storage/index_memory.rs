//! The index on the real file system keeps its memory bounded whatever its size: redb's cache
//! holds what was written until it reaches its cap, so an uncapped cache (redb's default, 1 GiB)
//! made fast-sync's peak RSS grow with the index, i.e. with the range synced (README "Memory").
//!
//! Each measurement runs in a child process (this test binary again, running only
//! [`fill_index_child`]) so its peak RSS (VmHWM) is the index's alone, not the other tests'.

use std::path::Path;
use std::process::Command;

use histd::storage::{FileSystem, RealFs};
use redb::TableDefinition;

/// Environment variables handing the child its work.
const FILL_MIB: &str = "HISTD_TEST_INDEX_FILL_MIB";
const FILL_DIR: &str = "HISTD_TEST_INDEX_FILL_DIR";

/// What the child writes: random keys over the whole key space, as transaction hashes land.
const FILL: TableDefinition<u64, &[u8]> = TableDefinition::new("fill");
const VALUE_BYTES: usize = 1024;
/// Entries per commit (a fast-sync commit indexes a few hundred blocks of ~150 transactions).
const PER_COMMIT: u64 = 32 * 1024;

/// Index bytes written by the small and the big run. The small one already passes the cache cap
/// (`INDEX_CACHE_BYTES`, 32 MiB), so both runs are past the plateau and compare the cap with
/// itself; an uncapped cache holds the whole 192 MiB.
const SMALL_MIB: u64 = 40;
const BIG_MIB: u64 = 128;
/// How much more peak RSS 3.2× the index may take. Measured (debug, peak RSS of the child alone,
/// 2 cores shared): with the cap, 40 MiB written 48 MiB, 128 MiB written 51 MiB; with redb's
/// default cache (main before the cap reached the real file system), 48 MiB written took
/// 126 MiB and 192 MiB written 396 MiB. The run takes ~30 s of wall time on this loaded machine,
/// mostly writing the index file (4 s of CPU).
const ALLOWED_GROWTH_KIB: u64 = 16 * 1024;

/// The child's peak RSS in KiB after writing `mib` MiB of index entries.
fn peak_rss_kib(mib: u64) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([
            "storage::index_memory::fill_index_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FILL_MIB, mib.to_string())
        .env(FILL_DIR, dir.path())
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split("PEAK_RSS_KIB ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no PEAK_RSS_KIB line in {stdout}"))
}

#[test]
fn the_real_index_keeps_its_memory_bounded_as_it_grows() {
    let small = peak_rss_kib(SMALL_MIB);
    let big = peak_rss_kib(BIG_MIB);
    println!(
        "index peak RSS: {SMALL_MIB} MiB written {small} KiB, {BIG_MIB} MiB written {big} KiB \
         (+{} KiB, allowed +{ALLOWED_GROWTH_KIB} KiB)",
        big.saturating_sub(small)
    );
    assert!(
        big <= small + ALLOWED_GROWTH_KIB,
        "3.2x the index took {big} KiB against {small} KiB"
    );
}

/// Not a test on its own: the child of the test above (does nothing without its environment).
#[test]
#[ignore = "child process of the_real_index_keeps_its_memory_bounded_as_it_grows"]
fn fill_index_child() {
    let (Ok(mib), Ok(dir)) = (std::env::var(FILL_MIB), std::env::var(FILL_DIR)) else {
        return;
    };
    let mib: u64 = mib.parse().expect("MiB to write");
    fill(Path::new(&dir), mib);
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().to_string())
        .expect("VmHWM in /proc/self/status");
    // On a line of its own: the harness prints the test's name without a newline before it.
    println!("\nPEAK_RSS_KIB {kib}");
}

/// Writes `mib` MiB of entries at random keys into an index opened as the store opens it.
fn fill(dir: &Path, mib: u64) {
    let db = RealFs
        .open_index(&dir.join("index.redb"))
        .expect("open the index");
    let entries = mib * 1024 * 1024 / VALUE_BYTES as u64;
    let value = vec![0xA5u8; VALUE_BYTES];
    // xorshift: keys spread like hashes, reproducibly.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut written = 0;
    while written < entries {
        let txn = db.begin_write().expect("begin");
        {
            let mut t = txn.open_table(FILL).expect("table");
            for _ in 0..PER_COMMIT.min(entries - written) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t.insert(x, value.as_slice()).expect("insert");
                written += 1;
            }
        }
        txn.commit().expect("commit");
    }
}
