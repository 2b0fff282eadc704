"""Raspberry Pi capture daemon, and the Redis data contract it owns."""
