//! Test support shared by unit tests, integration tests and benches: the real mainnet blocks of
//! `../shared/testdata`, synthetic chains, in-process peers. Compiled only with the `testkit` feature,
//! never in the product binary.

pub mod chain;
pub mod discovery;
pub mod history;
pub mod mainnet;
pub mod pool;
pub mod storage;
