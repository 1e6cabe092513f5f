"""Segments: the rule language (rules), what a rule reads of a wallet (facts) and its evaluation against one
wallet (evaluate); definitions and membership (store), wallets matched against every segment (wallets), a new
rule's full evaluation (evaluation), its audience before saving (preview) and members as CSV (export)."""
