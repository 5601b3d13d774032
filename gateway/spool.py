"""A bounded, on-disk queue of frames: what could not be delivered waits here, in order.

Frames are appended to segment files (``00000001.seg``, ...) and taken from the oldest. A
checkpoint file records how far delivery has got, so a restarted gateway resumes where it
stopped: a frame is delivered at least once, never lost to a crash of the process. When the
spool outgrows `max_bytes`, its oldest segment is dropped, and the frames and records in it
are counted (`dropped_frames`, `dropped_records`) so the operator can be told.

Each frame is ``length (4 bytes) | records (4 bytes) | payload``; `records` is how many
telemetry points or messages the payload holds, for the counts.

The methods do blocking file I/O; async callers run them in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_HEADER = struct.Struct(">II")
SEGMENT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Frame:
    payload: bytes
    records: int


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int | None = None) -> None:
        segment_bytes = segment_bytes or max(1024, min(SEGMENT_BYTES, max_bytes // 4))
        if max_bytes < segment_bytes:
            raise ValueError("a spool must hold at least one segment")
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.dropped_frames = 0
        self.dropped_records = 0
        self._lock = threading.Lock()  # appends and takes come from different threads
        directory.mkdir(parents=True, exist_ok=True)
        self._segments = sorted(directory.glob("*.seg"))
        if self._segments:
            _truncate_torn_frame(self._segments[-1])
        self._read_segment, self._read_offset = self._load_checkpoint()
        self._pending_frames, self._pending_records = self._count_pending()

    # --- state ------------------------------------------------------------------------------

    @property
    def depth_frames(self) -> int:
        return self._pending_frames

    @property
    def depth_records(self) -> int:
        return self._pending_records

    @property
    def bytes_on_disk(self) -> int:
        return sum(path.stat().st_size for path in self._segments if path.exists())

    def __bool__(self) -> bool:
        return self._pending_frames > 0

    # --- writing ----------------------------------------------------------------------------

    def append(self, payload: bytes, records: int) -> None:
        """Add a frame at the end; drops the oldest segment if the spool is full."""
        with self._lock:
            if not self._segments or self._segments[-1].stat().st_size >= self.segment_bytes:
                self._segments.append(self._new_segment_path())
                if self._read_segment is None:
                    self._read_segment, self._read_offset = self._segments[0], 0
            with self._segments[-1].open("ab") as file:
                file.write(_HEADER.pack(len(payload), records) + payload)
            self._pending_frames += 1
            self._pending_records += records
            self._enforce_bound()

    def _new_segment_path(self) -> Path:
        number = int(self._segments[-1].stem) + 1 if self._segments else 1
        return self.directory / f"{number:08d}.seg"

    def _enforce_bound(self) -> None:
        while len(self._segments) > 1 and self.bytes_on_disk > self.max_bytes:
            oldest = self._segments.pop(0)
            start = self._read_offset if oldest == self._read_segment else 0
            frames, records = _count(oldest, start)
            self.dropped_frames += frames
            self.dropped_records += records
            self._pending_frames -= frames
            self._pending_records -= records
            oldest.unlink()
            logger.error(
                "spool %s full (%d MB): dropped its oldest %d frames (%d records)",
                self.directory,
                self.max_bytes // (1024 * 1024),
                frames,
                records,
            )
            if oldest == self._read_segment:
                self._read_segment, self._read_offset = self._segments[0], 0
                self._save_checkpoint()

    # --- reading ----------------------------------------------------------------------------

    def peek(self) -> Frame | None:
        """The oldest frame not yet delivered, or None."""
        with self._lock:
            while self._read_segment is not None:
                frame = _read_frame(self._read_segment, self._read_offset)
                if frame is not None:
                    return frame
                if not self._advance_segment():
                    return None
            return None

    def pop(self, frame: Frame) -> None:
        """Mark the frame `peek` returned as delivered (recorded in the checkpoint)."""
        with self._lock:
            self._read_offset += _HEADER.size + len(frame.payload)
            self._pending_frames -= 1
            self._pending_records -= frame.records
            self._save_checkpoint()

    def _advance_segment(self) -> bool:
        """Done with the read segment: delete it and move to the next, if there is one."""
        current = self._read_segment
        if current is None:
            return False
        later = [path for path in self._segments if path > current]
        if not later:
            return False
        if current in self._segments:
            self._segments.remove(current)
            current.unlink(missing_ok=True)
        self._read_segment, self._read_offset = later[0], 0
        self._save_checkpoint()
        return True

    # --- checkpoint -------------------------------------------------------------------------

    def _load_checkpoint(self) -> tuple[Path | None, int]:
        if not self._segments:
            return None, 0
        try:
            name, offset = (self.directory / "checkpoint").read_text().split()
            segment = self.directory / name
            if segment in self._segments:
                return segment, int(offset)
        except (OSError, ValueError):
            pass
        return self._segments[0], 0

    def _save_checkpoint(self) -> None:
        if self._read_segment is None:
            return
        temporary = self.directory / "checkpoint.tmp"
        temporary.write_text(f"{self._read_segment.name} {self._read_offset}\n")
        os.replace(temporary, self.directory / "checkpoint")

    def _count_pending(self) -> tuple[int, int]:
        frames = records = 0
        for path in self._segments:
            start = self._read_offset if path == self._read_segment else 0
            f, r = _count(path, start)
            frames += f
            records += r
        return frames, records

    def __repr__(self) -> str:
        return f"Spool({self.directory}, {self._pending_frames} frames pending)"


def pending_records(directory: Path) -> int:
    """How many records wait in a spool, read without touching it (another process may own
    it): for monitoring and tests."""
    segments = sorted(directory.glob("*.seg"))
    if not segments:
        return 0
    start, offset = segments[0], 0
    try:
        name, text = (directory / "checkpoint").read_text().split()
        if directory / name in segments:
            start, offset = directory / name, int(text)
    except (OSError, ValueError):
        pass
    total = 0
    for path in segments:
        if path >= start:
            total += _count(path, offset if path == start else 0)[1]
    return total


def _read_frame(path: Path, offset: int) -> Frame | None:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            header = file.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return None
            length, records = _HEADER.unpack(header)
            payload = file.read(length)
    except FileNotFoundError:
        return None
    if len(payload) < length:
        return None  # a frame still being written, or cut by a crash mid-write
    return Frame(payload, records)


def _truncate_torn_frame(path: Path) -> None:
    """Cut a frame that a crash left half-written, so later appends stay readable."""
    end = 0
    while (frame := _read_frame(path, end)) is not None:
        end += _HEADER.size + len(frame.payload)
    if path.stat().st_size > end:
        logger.warning("spool segment %s: cut a frame left half-written at byte %d", path, end)
        with path.open("r+b") as file:
            file.truncate(end)


def _count(path: Path, offset: int) -> tuple[int, int]:
    frames = records = 0
    while True:
        frame = _read_frame(path, offset)
        if frame is None:
            return frames, records
        frames += 1
        records += frame.records
        offset += _HEADER.size + len(frame.payload)
