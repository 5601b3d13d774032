"""Streetlight: monitoring and control of street lighting for a city district.

This is the core package every process shares: the domain model (`streetlight.domain`), the
data contract (`streetlight.contract`), settings, the clock, the InfluxDB and MQTT helpers,
the relational store, the local servers and the `streetlight` command. Each process's own
code lives in its top-level package: `gateway`, `controller`, `api`, `simulator`,
`dashboards`.
"""

__version__ = "0.1.0"
