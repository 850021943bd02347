//! The daemon: its machine (properties, diagram) and the real binary with scripted workers.

mod binary;
mod diagram;
mod logging;
mod machine_props;
