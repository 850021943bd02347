//! Out-of-order arrivals: one slow peer among fast ones, two blocks per answer, and a head that jumps far
//! ahead, so blocks above one held by the slow peer arrive first. The reorder buffer holds them;
//! the store's in-order append (which refuses anything but the next block, failing the run) never
//! sees an out-of-order write, and the buffer never holds more than the follow window.

use std::time::Duration;

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, PeerKnobs, TestnetConfig};

use super::*;

#[test]
fn out_of_order_arrivals_are_written_in_order_and_the_buffer_stays_within_the_window() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestnetConfig::new(ChainKind::Synthetic, 600, 4);
    let fast = PeerKnobs {
        max_blocks: Some(2),
        ..PeerKnobs::default()
    };
    config.knobs = fast.clone();
    config.peer_knobs = vec![(
        0,
        PeerKnobs {
            latency: Duration::from_millis(400),
            ..fast
        },
    )];
    let net = start_testnet(&rt, dir.path(), config);
    net.control.cap_head(100);
    let mut h = Histd::spawn(follow_cmd(dir.path(), &net, &[]));
    wait_up_to_date(&mut h, 100);
    net.control.cap_head(500);
    wait_up_to_date(&mut h, 500);
    let summary = stop(&mut h);
    println!("{summary}");
    let (peak, window) = (num(&summary, "buffer_peak"), num(&summary, "window"));
    assert!(
        peak > 1,
        "blocks arrived out of order and waited: {summary}"
    );
    assert!(peak <= window, "{summary}");
    assert_store_equals(dir.path(), &net.chain, 0..=500);
    db_verify(dir.path());
}
