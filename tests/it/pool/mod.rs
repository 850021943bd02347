//! The peer pool against in-process peers over real sessions.

mod observability;
mod peers;
mod restart;
mod slots;
