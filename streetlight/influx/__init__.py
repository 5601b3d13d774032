"""InfluxDB over its v1 HTTP API: line protocol, an async client and a batching writer."""

from streetlight.influx.client import (
    InfluxClient,
    InfluxError,
    InfluxPartialWriteError,
    InfluxRequestError,
    InfluxUnavailableError,
    RetryPolicy,
    Series,
    quote_ident,
    quote_literal,
)
from streetlight.influx.line_protocol import (
    FieldValue,
    LineProtocolError,
    Point,
    encode_line,
    from_ns,
    series_key,
    to_ns,
)
from streetlight.influx.writer import BatchWriter, WriterFullError, WriterStats

__all__ = [
    "BatchWriter",
    "FieldValue",
    "InfluxClient",
    "InfluxError",
    "InfluxPartialWriteError",
    "InfluxRequestError",
    "InfluxUnavailableError",
    "LineProtocolError",
    "Point",
    "RetryPolicy",
    "Series",
    "WriterFullError",
    "WriterStats",
    "encode_line",
    "from_ns",
    "quote_ident",
    "quote_literal",
    "series_key",
    "to_ns",
]
