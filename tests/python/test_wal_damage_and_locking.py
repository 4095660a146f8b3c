"""What the data directory promises across restarts: one server at a time, damage to acknowledged
WAL records refused rather than repaired away, and blocks synced before the WAL lets them go."""
import re
import shutil
import subprocess
import time

import pytest
import requests

from conftest import BIN, Combray
from otlp_payloads import one_span_request

RECORD_PREFIX = 8
SEGMENT_HEADER = 16


def send(server, message):
    response = requests.post(f"{server.otlp_http}/v1/traces", data=message.SerializeToString(),
                             headers={"content-type": "application/x-protobuf"}, timeout=10)
    assert response.status_code == 200, response.text


def record_offsets(segment):
    """Start offsets of the records of a WAL segment, read from its framing (format v1)."""
    data = segment.read_bytes()
    offsets, offset = [], SEGMENT_HEADER
    while offset + RECORD_PREFIX <= len(data):
        length = int.from_bytes(data[offset:offset + 4], "little")
        offsets.append(offset)
        offset += RECORD_PREFIX + length
    return offsets


def test_a_second_server_on_one_data_directory_refuses_and_leaves_the_first_alone(make_combray):
    first = make_combray().start()
    before, message = one_span_request()
    send(first, message)

    second = Combray(first.data_dir)
    with pytest.raises(RuntimeError) as refused:
        second.start()
    assert second.process.returncode != 0
    assert f"in use by another combray serve (pid {first.process.pid})" in str(refused.value)

    after, message = one_span_request()
    send(first, message)
    first.kill()
    restarted = Combray(first.data_dir).start()
    try:
        for trace_id in (before, after):
            assert restarted.wait_for_trace(trace_id.hex())["span_count"] == 1
    finally:
        restarted.stop()


def test_a_damaged_sealed_segment_is_quarantined_and_start_refused_until_skipped(make_combray):
    server = make_combray().start()
    kept, lost = one_span_request(), one_span_request()
    send(server, kept[1])
    send(server, lost[1])
    server.kill()
    # A second run seals the first segment and writes one more trace into a newer one.
    server = Combray(server.data_dir).start()
    newer = one_span_request()
    send(server, newer[1])
    server.kill()

    wal = server.data_dir / "wal"
    first = sorted(wal.glob("wal-*.log"))[0]
    offsets = record_offsets(first)
    assert len(offsets) == 2, offsets
    data = bytearray(first.read_bytes())
    data[offsets[1] + RECORD_PREFIX + 40] ^= 0x5A  # bit rot inside an acknowledged record
    first.write_bytes(bytes(data))

    refused = Combray(server.data_dir)
    with pytest.raises(RuntimeError) as error:
        refused.start()
    message = str(error.value)
    quarantined = wal / "quarantine" / first.name
    assert f"{first} is damaged at byte {offsets[1]}" in message
    assert "--wal-skip-damaged" in message and str(quarantined) in message
    assert quarantined.exists() and not first.exists()

    with pytest.raises(RuntimeError, match="--wal-skip-damaged"):
        Combray(server.data_dir).start()
    dump = subprocess.run([BIN, "wal", "dump", "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, check=True).stdout
    assert "[quarantined: start refused]" in dump and "record checksum does not match" in dump

    skipping = Combray(server.data_dir, ["--wal-skip-damaged"]).start()
    try:
        assert skipping.wait_for_trace(kept[0].hex())["span_count"] == 1
        assert skipping.wait_for_trace(newer[0].hex())["span_count"] == 1
        assert skipping.get(f"/api/v1/traces/{lost[0].hex()}").status_code == 404
    finally:
        skipping.kill()
    assert (wal / "quarantine" / f"{first.name}.skipped").exists()
    # Accepted once: the next start needs no flag and still has the intact record.
    again = Combray(server.data_dir).start()
    try:
        assert again.wait_for_trace(kept[0].hex())["span_count"] == 1
    finally:
        again.stop()


def renamed_to(line):
    """The target path of a traced rename, or None."""
    if "rename" not in line:
        return None
    quoted = re.findall(r'"([^"]+)"', line)
    return quoted[-1] if quoted else None


def test_blocks_are_synced_before_the_checkpoint_lets_their_wal_go(make_combray, tmp_path):
    trace_log = tmp_path / "syscalls.log"
    strace = ["strace", "-f", "-qq", "-y", "-o", str(trace_log),
              "-e", "trace=fsync,fdatasync,rename,renameat,renameat2"]
    server = make_combray(["--block-max-age-seconds", "1"], wrap=strace).start()
    trace_id, message = one_span_request()
    send(server, message)
    deadline = time.time() + 30
    while "head cut into blocks" not in server.log() and time.time() < deadline:
        time.sleep(0.2)
    assert "head cut into blocks" in server.log()
    # Stop combray itself (strace's child); strace exits with it.
    child = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True)
    subprocess.run(["kill", "-TERM", child.stdout.split()[0]], check=True)
    server.process.wait(timeout=30)

    lines = trace_log.read_text(errors="replace").splitlines()
    checkpoint_at = next(i for i, line in enumerate(lines)
                         if (renamed_to(line) or "").endswith("/wal/checkpoint.json"))
    block_files = {renamed_to(line) for line in lines[:checkpoint_at]
                   if "/objects/blocks/" in (renamed_to(line) or "")}
    assert {name.rsplit("/", 1)[1] for name in block_files} == {"data.parquet", "traces.idx", "meta.json"}
    synced = set()
    for line in lines[:checkpoint_at]:
        synced.update(re.findall(r"f(?:data)?sync\(\d+<([^>]+)>", line))
    for name in block_files:
        assert name in synced, f"{name} was not synced before the checkpoint"
        objects = name[:name.index("/objects/") + len("/objects")]
        directory = name.rsplit("/", 1)[0]
        while len(directory) >= len(objects):
            assert directory in synced, f"directory {directory} was not synced before the checkpoint"
            directory = directory.rsplit("/", 1)[0]


def test_a_full_wal_disk_answers_503_loses_nothing_and_recovers_by_itself(tmp_path):
    """The data directory on a real 6 MiB filesystem (tmpfs), filled up while spans arrive."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(small)], check=True)
    # Small segments: the disk fills while segments rotate, too.
    args = ["--storage-url", str(tmp_path / "objects"), "--block-max-age-seconds", "3600",
            "--wal-segment-bytes", "65536"]
    servers = []
    try:
        server = Combray(small / "data", args)
        servers.append(server.start())
        filler = small / "filler"
        filler.write_bytes(b"\0" * (shutil.disk_usage(small).free - 1_000_000))
        acknowledged, refused = [], None
        for _ in range(500):
            trace_id, message = one_span_request(padding=20_000)
            response = requests.post(f"{server.otlp_http}/v1/traces", data=message.SerializeToString(),
                                     headers={"content-type": "application/x-protobuf"}, timeout=10)
            if response.status_code != 200:
                refused = response
                break
            acknowledged.append(trace_id.hex())
        assert refused is not None, "the disk never filled"
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert b"No space left on device" in refused.content
        assert len(acknowledged) >= 10

        # Space comes back: ingest goes on without a restart.
        filler.unlink()
        trace_id, message = one_span_request(padding=20_000)
        send(server, message)
        acknowledged.append(trace_id.hex())
        server.kill()

        restarted = Combray(small / "data", args)
        servers.append(restarted.start())
        for trace_id in acknowledged:
            assert restarted.wait_for_trace(trace_id)["span_count"] == 1
    finally:
        for server in servers:
            server.stop()
        # Lazy: the harness keeps its log file (on this filesystem) open.
        subprocess.run(["umount", "-l", str(small)], check=False)
