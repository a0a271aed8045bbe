"""needs_multiline's file scan: markers found anywhere, also across read blocks."""

from __future__ import annotations

import pytest

from runner.spark.sources import contains_any


@pytest.mark.parametrize(
    "content, found",
    [
        (b"a,b\n1,2\n3,4\n", False),
        (b"a,b\n1,2\n3,\"4\"\n", True),
        (b"a,b\n1,2\n 3,4\n", True),  # the two-byte marker "\n " across a block edge below
        (b"a,b\r\n1,2\n", True),
    ],
)
def test_contains_any_reads_across_blocks(tmp_path, content, found):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    markers = (b'"', b"\r", b"\n ", b"\n\t")
    assert contains_any(path, markers, block=8) is found  # blocks of 8 bytes: "\n" | " 3,4"
    assert contains_any(path, markers) is found
