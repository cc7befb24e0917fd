"""Longer scientific runs whose tables and plots go into the README (see experiments/README.md)."""
