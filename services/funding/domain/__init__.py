"""Pure rules of the funding ledger (no I/O)."""
