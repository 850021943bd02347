//! The daemon: its machine (properties, diagram), the real binary with scripted workers, and what
//! operators rely on (exit codes, systemd notify, SIGUSR1, the metrics catalog, unit and alerts).

mod binary;
mod diagram;
mod logging;
mod machine_props;
mod ops;
mod served_status;
