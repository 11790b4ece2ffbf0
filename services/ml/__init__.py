"""The ml service."""
