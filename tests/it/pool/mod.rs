//! The peer pool against in-process peers over real sessions.

mod observability;
mod peers;
mod policy;
mod restart;
mod slots;
