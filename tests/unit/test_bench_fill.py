"""The bench's fill of a large Redis (``bench/fill.py``): the commands it records, no servers."""

from __future__ import annotations

import asyncio
import io

from bench.fill import _ranges, fill, new_login, resp


def test_a_command_is_written_in_the_redis_protocol() -> None:
    assert resp(("EVALSHA", "ab", 1, b"k\r\n", 2.5)) == (
        b"*5\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$3\r\nk\r\n\r\n$3\r\n2.5\r\n")


def test_the_store_sends_its_script_whole_once_then_by_sha() -> None:
    output = io.BytesIO()

    asyncio.run(fill("redis://127.0.0.1:1/0", 0, 3, output=output))

    assert [command[0] for command in parse(output.getvalue())] == [
        b"EVAL", b"EVALSHA", b"EVALSHA"]


def parse(data: bytes) -> list[list[bytes]]:
    """Commands in the Redis protocol, each the list of its arguments."""
    stream, commands = io.BytesIO(data), []
    while header := stream.readline():
        args = []
        for _ in range(int(header[1:])):
            length = int(stream.readline()[1:])
            args.append(stream.read(length + 2)[:-2])
        commands.append(args)
    return commands


def test_logins_are_sessions_of_users_two_by_two() -> None:
    first, second, third = (new_login(n, 1e9) for n in range(3))

    assert first.session.user_id == second.session.user_id != third.session.user_id
    assert first.code_hash != second.code_hash
    assert first.session.expires_at > 1e9


def test_the_logins_are_cut_into_nearly_equal_ranges() -> None:
    assert _ranges(10, 3) == [(0, 4), (4, 3), (7, 3)]
    assert _ranges(2, 3) == [(0, 1), (1, 1)]
