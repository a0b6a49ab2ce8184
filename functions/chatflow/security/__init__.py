"""Passwords, tokens and revocations."""
