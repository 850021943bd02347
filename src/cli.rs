//! Command-line interface: flags that override the config file, and subcommands.
