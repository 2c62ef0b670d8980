"""Meeting endpoints: TCP locators and unix sockets, as the Rust side."""

import pytest

from umwelt_driver.transport import TransportError, _split, peer_config


def test_locators_are_split_and_bad_ones_refused():
    assert _split("tcp/127.0.0.1:7447") == ("tcp", "127.0.0.1", 7447)
    assert _split("unixsock-stream//tmp/u.sock") == ("unixsock-stream", "/tmp/u.sock", None)
    for bad in ["127.0.0.1:7447", "tcp/127.0.0.1", "tcp/127.0.0.1:99999", "unixsock-stream/"]:
        with pytest.raises(TransportError):
            _split(bad)


def test_a_unix_socket_member_listens_on_its_own_socket_beside_the_meeting_one():
    c = peer_config("unixsock-stream//tmp/u.sock", hub=False)
    assert "unixsock-stream//tmp/u.sock." in c.get_json("listen/endpoints")
    assert "unixsock-stream//tmp/u.sock" in c.get_json("connect/endpoints")
