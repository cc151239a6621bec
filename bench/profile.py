"""Where the service's CPU goes: sampled stacks (collapsed, as py-spy writes them), summed
three ways.

- by library, from the innermost Python frame of each sample (time in a C extension counts for
  the Python frame that called it);
- by function, self time (innermost frame);
- by project function, inclusive time (every project frame on the stack counts once).

``python -m bench.profile FILE`` prints the summary of a ``py-spy record --format raw`` file.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")
_LIBRARIES = (
    ("sanic", ("/sanic/", "/sanic_routing/", "/httptools/")),
    ("asyncio + uvloop", ("/asyncio/", "/uvloop/")),
    ("redis-py", ("/redis/",)),
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("aiomysql + PyMySQL", ("/aiomysql/", "/pymysql/")),
    ("aiohttp + yarl + multidict", ("/aiohttp/", "/yarl/", "/multidict/", "/aiosignal/")),
    ("dependency-injector", ("/dependency_injector/",)),
    ("logging", ("/logging/",)),
    ("json / orjson", ("/json/", "/orjson/")),
    ("project: domain", ("domain/",)),
    ("project: adapters", ("adapters/",)),
    ("project: entrypoints", ("entrypoints/", "container.py")),
)
_PROJECT = ("domain/", "adapters/", "entrypoints/", "container.py")
_CALLS = (
    # A sample inside one of these (anywhere on its stack) is that port call's cost.
    ("garbage collector", ("Sampler._gc",)),
    ("WeChat call (gateway)", ("AiohttpWeChatGateway",)),
    ("Redis: code-exchange claims", ("RedisCodeExchangeRegistry",)),
    ("Redis: sessions", ("RedisSessionStore",)),
    ("SQL: user upsert", ("SqlAlchemyUserRepository",)),
)
_LAYERS = (
    # Otherwise the innermost frame of one of these (standard library frames skipped) decides.
    ("WeChat: aiohttp callbacks", ("/aiohttp/", "/yarl/", "/multidict/")),
    ("Redis: driver callbacks", ("/redis/", "/hiredis/")),
    ("SQL: driver callbacks", ("/sqlalchemy/", "/aiomysql/", "/pymysql/")),
    ("metrics (prometheus_client)",
     ("/prometheus_client/", "/metrics.py", "/instrumented.py", "/port_metrics.py")),
    ("dependency-injector", ("/dependency_injector/",)),
    ("logging", ("/logging/",)),
    ("domain (use cases)", ("/domain/",)),
    ("entrypoints (handlers, middleware)", ("/entrypoints/",)),
    ("Sanic (HTTP, routing, signals)", ("/sanic/", "/sanic_routing/", "/httptools/", "find_route")),
    ("asyncio + uvloop", ("/asyncio/", "/uvloop/")),
)


def _parse_frame(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return match["function"], match["file"]


def library_of(path: str) -> str:
    marked = "/" + path if not path.startswith("/") else path
    for name, markers in _LIBRARIES:
        if any(marker in marked for marker in markers):
            return name
    return "other (stdlib, C)"


def _is_project(path: str) -> bool:
    return "site-packages" not in path and any(
        path.startswith(marker) or f"/{marker}" in path for marker in _PROJECT
    )


def _short(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "/lib/python3" in path:
        return path.split("/lib/", 1)[1]
    return path


def component_of(frames: list[str]) -> str:
    """The hot-path component a sample belongs to: a port call on its stack, else the layer of
    its innermost frame outside the standard library."""
    for name, markers in _CALLS:
        if any(marker in frame for frame in frames for marker in markers):
            return name
    for frame in reversed(frames):
        _function, path = _parse_frame(frame)
        marked = "/" + path if not path.startswith("/") else path
        for name, markers in _LAYERS:
            if any(marker in marked or marker in frame for marker in markers):
                return name
        if "site-packages" in path or not (path.startswith("<") or "/lib/python3" in path):
            return "other"
    return "other"


def read_samples(text: str) -> list[tuple[list[str], int]]:
    samples = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def summarise(text: str, top: int = 15) -> str:
    samples = read_samples(text)
    total = sum(count for _, count in samples)
    if total == 0:
        return "no samples"
    libraries: Counter[str] = Counter()
    components: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in samples:
        function, path = _parse_frame(frames[-1])
        libraries[library_of(path)] += count
        components[component_of(frames)] += count
        self_time[f"{function} ({_short(path)})"] += count
        seen = set()
        for frame in frames:
            function, path = _parse_frame(frame)
            if _is_project(path):
                name = f"{function} ({path.rsplit('/', 2)[-2]}/{path.rsplit('/', 1)[-1]})"
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count

    def block(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"  {100 * n / total:5.1f} %  {name}" for name, n in counter.most_common(top)]
        return [title, *rows]

    return "\n".join(
        [
            f"{total:,} samples",
            *block(
                "By hot-path component (a port call on the stack, else the innermost layer):",
                components,
            ),
            *block("By library (innermost Python frame):", libraries),
            *block("By function, self time:", self_time),
            *block("Project functions, inclusive time:", inclusive),
        ]
    )


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]).read_text()))
