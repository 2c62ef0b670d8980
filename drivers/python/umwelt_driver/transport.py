"""Opening a zenoh session the way umwelt nodes meet (Rust:
``runtime/src/nodes/transport.rs``): peer mode, multicast scouting off; the
first node up listens on the meeting endpoint (default
``tcp/127.0.0.1:7447``), the others connect to it and retry until it
appears; gossip then links peers directly (each also listens on a free
port). A zenoh json5 file, or a ready ``zenoh.Config``, replaces this.

The default session is not authenticated: anyone who can reach the endpoint
can read and publish every message (see ``configs/zenoh/secure/README.md``).
"""

from __future__ import annotations

import os
import socket
from typing import Union

import zenoh

#: The default meeting endpoint of umwelt nodes.
DEFAULT_ENDPOINT = "tcp/127.0.0.1:7447"


class TransportError(RuntimeError):
    """The endpoint or config is unusable, or the session did not open."""


def _split(endpoint: str):
    """``tcp/127.0.0.1:7447`` -> (``tcp``, ``127.0.0.1``, 7447);
    ``unixsock-stream//tmp/u.sock`` -> (``unixsock-stream``, ``/tmp/u.sock``,
    None)."""
    if '"' in endpoint or "\\" in endpoint:
        raise TransportError(f"zenoh endpoint `{endpoint}`: quotes are not allowed")
    proto, sep, addr = endpoint.partition("/")
    if proto == "unixsock-stream":
        if not addr or "?" in addr or "#" in addr:
            raise TransportError(
                f"zenoh endpoint `{endpoint}`: unixsock-stream needs a socket path and no options"
            )
        return proto, addr, None
    host, sep2, port = addr.rpartition(":")
    if not sep or not sep2 or not port.isdigit() or int(port) > 65535:
        raise TransportError(
            f"zenoh endpoint `{endpoint}`: not a locator with a port "
            f"(expected e.g. {DEFAULT_ENDPOINT}, or unixsock-stream/PATH)"
        )
    return proto, host, int(port)


_private_sockets = 0


def _private(proto: str, host: str) -> str:
    """This node's own listening locator beside the meeting one: a free
    port of the same host, or a socket file of this process beside the
    meeting socket (zenoh removes it when the session closes)."""
    global _private_sockets
    if proto == "unixsock-stream":
        _private_sockets += 1
        return f"{proto}/{host}.{os.getpid()}-py{_private_sockets}"
    return f"{proto}/{host}:0"


def peer_config(endpoint: str, hub: bool) -> zenoh.Config:
    """The zenoh config of a node meeting at ``endpoint``: a ``hub`` listens
    on it, the others connect to it (retrying). Both listen on a free port
    of the same host for the direct links gossip sets up."""
    proto, host, _ = _split(endpoint)
    private = _private(proto, host)
    if hub:
        listen, connect = f'["{endpoint}", "{private}"]', "[]"
    else:
        listen, connect = f'["{private}"]', f'["{endpoint}"]'
    c = zenoh.Config()
    settings = [
        ("mode", '"peer"'),
        ("scouting/multicast/enabled", "false"),
        ("scouting/gossip/enabled", "true"),
        ("listen/endpoints", listen),
        ("listen/exit_on_failure", "true"),
        ("connect/endpoints", connect),
        ("connect/exit_on_failure", "false"),
        # Non-zero: members retry the meeting endpoint in the background.
        ("connect/timeout_ms", "-1"),
        ("connect/retry", "{ period_init_ms: 50, period_max_ms: 500, period_increase_factor: 2 }"),
    ]
    for k, v in settings:
        try:
            c.insert_json5(k, v)
        except Exception as e:  # zenoh raises its own ZError
            raise TransportError(f"zenoh endpoint `{endpoint}`: setting {k} = {v}: {e}") from e
    return c


def _unix_socket_free(path: str) -> bool:
    """Whether nobody serves the unix socket ``path``: no file, or a socket
    nobody accepts on (left by a killed node; removed, as zenoh cannot
    listen where a file is)."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return True
    if not stat.S_ISSOCK(mode):
        return False
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
        return False
    except OSError:
        try:
            os.remove(path)
            return True
        except OSError:
            return False


def _endpoint_free(host: str, port: int) -> bool:
    """Whether nobody listens on ``host:port`` yet (we could bind it)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host.strip("[]"), port))
        return True
    except OSError:
        return False


def open_session(
    endpoint: str = DEFAULT_ENDPOINT,
    zenoh_config: Union[None, str, os.PathLike, zenoh.Config] = None,
) -> zenoh.Session:
    """Opens a session: from ``zenoh_config`` (a json5 file path or a
    ``zenoh.Config``) if given; else as the hub when ``endpoint`` is free,
    or as a member connecting to it (also when another node wins a race
    for it). Raises :class:`TransportError`."""
    try:
        if isinstance(zenoh_config, zenoh.Config):
            return zenoh.open(zenoh_config)
        if zenoh_config is not None:
            return zenoh.open(zenoh.Config.from_file(os.fspath(zenoh_config)))
    except Exception as e:
        raise TransportError(f"cannot open a zenoh session from {zenoh_config}: {e}") from e
    proto, host, port = _split(endpoint)
    free = _unix_socket_free(host) if proto == "unixsock-stream" else (
        proto == "tcp" and _endpoint_free(host, port)
    )
    if free:
        try:
            return zenoh.open(peer_config(endpoint, hub=True))
        except Exception:
            pass  # another node took the endpoint first: join it instead
    try:
        return zenoh.open(peer_config(endpoint, hub=False))
    except Exception as e:
        raise TransportError(f"cannot open a zenoh session on {endpoint}: {e}") from e
