//! The daemon: its phase state machine, events, signal handler and head tracker.
