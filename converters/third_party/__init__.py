"""Code from other projects, vendored unchanged with its license and origin (one folder each)."""
