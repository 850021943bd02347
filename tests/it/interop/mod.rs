//! Interop with implementations nobody here wrote (`tests/interop/` holds the Node.js peer).

mod dpt;
mod eth69;
mod ethereumjs;
