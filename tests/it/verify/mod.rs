//! The verifier against real mainnet blocks.

mod mainnet;
