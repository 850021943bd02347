//! Storage: shard files indexed by redb (DESIGN.md §5).
