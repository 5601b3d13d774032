"""The gateway's on-disk spool: order, bounds, and surviving a restart."""

from __future__ import annotations

from pathlib import Path

from gateway.spool import Spool, pending_records


def _drain(spool: Spool) -> list[bytes]:
    out = []
    while (frame := spool.peek()) is not None:
        out.append(frame.payload)
        spool.pop(frame)
    return out


def test_frames_come_out_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000, segment_bytes=100)
    payloads = [f"frame {i:03d}".encode() * 3 for i in range(40)]
    for payload in payloads:
        spool.append(payload, records=3)
    assert spool.depth_frames == 40
    assert spool.depth_records == 120
    assert _drain(spool) == payloads
    assert spool.depth_frames == 0
    assert not spool
    assert len(list(tmp_path.glob("*.seg"))) == 1  # delivered segments are deleted


def test_a_reopened_spool_resumes_after_what_was_delivered(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000, segment_bytes=64)
    for i in range(20):
        spool.append(f"{i}".encode(), records=1)
    for _ in range(7):
        frame = spool.peek()
        assert frame is not None
        spool.pop(frame)
    frame = spool.peek()  # taken but not acknowledged when the process dies
    again = Spool(tmp_path, max_bytes=10_000, segment_bytes=64)
    assert again.depth_frames == 13
    assert _drain(again) == [f"{i}".encode() for i in range(7, 20)]
    assert frame is not None
    assert frame.payload == b"7"


def test_a_full_spool_drops_its_oldest_segment_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=400, segment_bytes=100)
    for i in range(100):
        spool.append(f"{i:04d}".encode() * 5, records=2)  # 28 bytes a frame
    kept = _drain(spool)
    assert spool.dropped_frames + len(kept) == 100
    assert spool.dropped_records == 2 * spool.dropped_frames
    assert spool.dropped_frames > 0
    assert kept == [f"{i:04d}".encode() * 5 for i in range(100 - len(kept), 100)]  # the newest


def test_a_frame_cut_by_a_crash_is_not_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.append(b"whole", records=1)
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("ab") as file:
        file.write(b"\x00\x00\x00\x10\x00\x00\x00\x01half")  # 16 bytes promised, 4 written
    again = Spool(tmp_path, max_bytes=10_000)
    assert _drain(again) == [b"whole"]


def test_appending_after_a_torn_frame_keeps_the_spool_readable(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.append(b"one", records=1)
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("ab") as file:
        file.write(b"\x00\x00\x00\x10\x00\x00")  # a crash mid-header
    again = Spool(tmp_path, max_bytes=10_000)
    again.append(b"two", records=1)
    assert _drain(again) == [b"one", b"two"]


def test_pending_records_reads_without_changing_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000, segment_bytes=64)
    for i in range(10):
        spool.append(f"{i}".encode(), records=3)
    for _ in range(4):
        frame = spool.peek()
        assert frame is not None
        spool.pop(frame)
    before = sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir())
    assert pending_records(tmp_path) == 18
    assert sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir()) == before
