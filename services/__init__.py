"""Logos services: one package per deployable, plus the shared runtime and the CLI."""
