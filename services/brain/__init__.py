"""The brain service."""
