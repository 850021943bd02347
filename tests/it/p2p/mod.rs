//! RLPx, the base protocol, the eth codec and sessions over real loopback TCP.

mod eth_chain;
mod eth_codec;
mod eth_hostile;
mod fuzz_corpus;
mod handshake;
mod mainnet;
mod session;
mod session_hardening;
mod wire_size;
