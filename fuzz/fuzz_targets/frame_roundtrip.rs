//! cargo-fuzz target `frame_roundtrip`; the body lives in `common/mod.rs` (also replayed by
//! `tests/it/p2p/fuzz_corpus.rs` on stable).
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::frame_roundtrip(data));
