//! Fetch → verify → process, shared by FastSync and Follow.

pub mod verify;
