"""Redis/Valkey adapters: revocations, rate limits and presence.

The keys and what each holds: docs/architecture.md, "Data model".
"""
