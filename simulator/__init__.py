"""Simulator: see README.md."""
