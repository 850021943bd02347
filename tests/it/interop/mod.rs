//! Interop with implementations nobody here wrote (`tests/interop/` holds the Node.js peer).

mod ethereumjs;
