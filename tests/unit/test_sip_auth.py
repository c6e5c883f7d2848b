"""harness.sip.auth: digest against the RFC 2617 and RFC 7616 worked examples."""

from __future__ import annotations

import pytest

from harness.sip import SipParseError
from harness.sip.auth import (
    Challenge,
    build_authorization,
    make_challenge,
    parse_authorization,
    parse_challenge,
    verify,
)
from harness.sip.errors import SipUsageError
from tests.support.sip_errors import parse_error


def test_rfc2617_example():
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge.qop == ["auth", "auth-int"]
    value = build_authorization(
        challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1
    )
    auth = parse_authorization(value)
    assert auth.response == "6629fae49393a05397450978507c4ef1"
    assert (auth.qop, auth.nc, auth.cnonce) == ("auth", "00000001", "0a4f113b")
    assert auth.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert verify(value, "GET", "Circle Of Life")
    assert verify(auth, "GET", "Circle Of Life", realm="testrealm@host.com")
    assert not verify(value, "GET", "circle of life")
    assert not verify(value, "POST", "Circle Of Life")
    assert not verify(value, "GET", "Circle Of Life", nonce="other")
    assert not verify(value, "GET", "Circle Of Life", realm="other")


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm, expected):
    challenge = (
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    value = build_authorization(
        challenge,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle of Life",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        1,
    )
    assert parse_authorization(value).response == expected
    assert verify(value, "GET", "Circle of Life")


def test_sip_register_round_trip_and_variants():
    challenge = make_challenge("asterisk", "abc123", opaque="op")
    assert (
        challenge
        == 'Digest realm="asterisk", nonce="abc123", opaque="op", algorithm=MD5, qop="auth"'
    )
    uri = "sip:192.168.100.10"
    value = build_authorization(challenge, "REGISTER", uri, "1000", "secret")
    auth = parse_authorization(value)
    assert auth.uri == uri and auth.cnonce and auth.nc == "00000001"
    assert verify(value, "REGISTER", "secret", realm="asterisk", nonce="abc123")
    # RFC 2069 style (no qop), -sess, auth-int and a text nc
    for kwargs, method_body in [
        ({"qop": None}, b""),
        ({"algorithm": "MD5-sess"}, b""),
        ({"algorithm": "SHA-256-sess"}, b""),
        ({"qop": "auth-int"}, b"v=0\r\n"),
    ]:
        ch = make_challenge("r", "n", **kwargs)
        value = build_authorization(ch, "INVITE", uri, "u", "p", nc="0000000a", body=method_body)
        assert verify(value, "INVITE", "p", body=method_body), kwargs
        assert not verify(value, "INVITE", "wrong", body=method_body), kwargs
    no_qop = parse_authorization(
        build_authorization(make_challenge("r", "n", qop=None), "BYE", uri, "u", "p")
    )
    assert no_qop.qop is None and no_qop.cnonce is None and no_qop.nc is None


def test_parse_challenge_fields():
    ch = parse_challenge(
        'Digest realm="a, b", nonce="n", stale=TRUE, domain="sip:a sip:b", algorithm=MD5'
    )
    assert isinstance(ch, Challenge)
    assert (ch.realm, ch.nonce, ch.stale, ch.domain, ch.qop) == (
        "a, b",
        "n",
        True,
        "sip:a sip:b",
        [],
    )
    assert parse_challenge(str(ch)).realm == "a, b"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('Basic realm="x"', "unsupported scheme"),
        ("Digest", "expected 'Digest name=value"),
        ('Digest nonce="x"', "missing realm"),
        ('Digest realm="x", nonce="y" junk', "text after quoted value"),
        ("Digest realm", "bad parameter"),
    ],
)
def test_bad_challenges(value, reason):
    assert reason in parse_error(parse_challenge, value).reason


def test_bad_authorization_and_usage():
    with pytest.raises(SipParseError, match="missing response"):
        parse_authorization('Digest username="a", realm="b", nonce="c", uri="d"')
    assert not verify('Digest username="a"', "GET", "p")
    assert not verify(
        'Digest username="a", realm="b", nonce="c", uri="d", response="e", algorithm=SHA-999',
        "GET",
        "p",
    )
    with pytest.raises(SipUsageError, match="unsupported qop"):
        build_authorization(make_challenge("r", "n", qop="auth-conf"), "GET", "/", "u", "p")
    with pytest.raises(SipUsageError, match="unsupported digest algorithm"):
        build_authorization(make_challenge("r", "n", algorithm="SHA-999"), "GET", "/", "u", "p")
