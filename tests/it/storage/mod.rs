//! Storage on real files: round trips, concurrency, crashes, faults, the model.

mod basic;
mod broken;
mod concurrent;
mod crash;
mod damaged;
mod diagram;
mod faults;
mod header_damage;
mod index_memory;
mod log_index;
mod log_index_tail;
mod model;
mod powercut;
mod tx_hash_side;
mod tx_index;
mod tx_runs;
mod wal_reads;
