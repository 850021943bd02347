//! Metric names, defined in one place; components record, the exporter lives in the daemon.
