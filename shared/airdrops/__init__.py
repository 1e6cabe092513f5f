"""Airdrops: immutable, block-pinned snapshots of a segment, their Merkle exports and the claims made
against them (docs/architecture.md, "Airdrops")."""
