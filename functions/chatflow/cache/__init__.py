"""Redis/Valkey adapters: revocations, rate limits and presence (DESIGN.md §4)."""
