//! Configuration: the TOML file, CLI overrides, validation with errors that name the key.
