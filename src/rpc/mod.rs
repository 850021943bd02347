//! JSON-RPC server (not built yet: see the issue tracker).
