"""Dashboards: see README.md."""
