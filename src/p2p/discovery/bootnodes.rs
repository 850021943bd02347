//! Built-in bootnodes and DNS discovery lists.
