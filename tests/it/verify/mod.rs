//! The verifier: against real mainnet blocks, one test per error variant, bit-flip sweeps over real
//! blocks, and alloy-built blocks with every transaction type.

mod bitflip;
mod mainnet;
mod txtypes;
mod variants;
