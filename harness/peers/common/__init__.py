"""Shared parts of the simulators (standard library only)."""
