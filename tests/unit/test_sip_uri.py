"""harness.sip.uri: SIP/SIPS/tel URIs, name-addr values and Via values."""

from __future__ import annotations

import pytest

from harness.sip import NameAddr, SipParseError, SipUri, Via, parse_via
from harness.sip.uri import is_absolute_uri, parse_name_addrs, parse_vias
from tests.support.sip_errors import parse_error


@pytest.mark.parametrize(
    "text",
    [
        "sip:+14255550150@192.168.100.20",
        "sip:mediationsrv.contoso.com:5060;transport=Tcp;maddr=192.168.100.20;msopaque=290e945803dcf814",
        "sip:1000@192.168.100.10;transport=TCP",
        "sips:alice:secret@example.com:5061;lr;user=phone?Subject=hi&Priority=urgent",
        "SIP:Alice@Example.COM",
        "sip:[2001:db8::10]:5070;transport=udp",
        "sip:[2001:db8::10]",
        "tel:+14255550150;phone-context=example.com",
        "sip:asterisk_1.sip-net",
    ],
)
def test_uri_round_trips(text):
    uri = SipUri.parse(text)
    assert str(uri) == text
    rebuilt = uri.copy()
    rebuilt.raw = None
    assert SipUri.parse(str(rebuilt)) == uri


def test_lync_contact_uri_fields():
    uri = SipUri.parse(
        "sip:mediationsrv.contoso.com:5060;transport=Tcp;maddr=192.168.100.20;msopaque=290e945803dcf814"
    )
    assert (uri.scheme, uri.user, uri.host, uri.port) == (
        "sip",
        None,
        "mediationsrv.contoso.com",
        5060,
    )
    assert uri.params == {
        "transport": "Tcp",
        "maddr": "192.168.100.20",
        "msopaque": "290e945803dcf814",
    }
    assert uri.transport == "tcp"
    assert uri.maddr == "192.168.100.20"
    assert uri.param("TRANSPORT") == "Tcp"
    assert uri.host_port == "mediationsrv.contoso.com:5060"
    assert uri.aor == "sip:mediationsrv.contoso.com"


def test_uri_parts():
    uri = SipUri.parse(
        "sips:alice:secret@example.com:5061;lr;user=phone?Subject=hi&Priority=urgent"
    )
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "alice",
        "secret",
        "example.com",
        5061,
    )
    assert uri.params == {"lr": None, "user": "phone"}
    assert uri.has_param("LR") and uri.param("lr") is None
    assert uri.headers == {"Subject": "hi", "Priority": "urgent"}
    assert SipUri.parse("SIP:a@b").scheme == "sip"
    tel = SipUri.parse("tel:+1-425-555-0150")
    assert (tel.scheme, tel.user, tel.host) == ("tel", "+1-425-555-0150", "")
    assert tel.aor == "tel:+1-425-555-0150"


def test_changed_uri_is_rebuilt():
    uri = SipUri.parse("sip:1000@192.168.100.10;transport=TCP")
    uri.port = 5060
    uri.params["ob"] = None
    assert str(uri) == "sip:1000@192.168.100.10:5060;transport=TCP;ob"
    built = SipUri(user="bob", host="example.com", params={"transport": "tcp"})
    assert str(built) == "sip:bob@example.com;transport=tcp"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sip:user@example.com; lr", "contains whitespace"),
        ("<sip:user@example.com>", "contains whitespace, '<'"),
        ("user@example.com", "no scheme"),
        ("http://example.com/", "is not sip, sips or tel"),
        ("sip:@example.com", "empty user part"),
        ("sip:user@", "missing host"),
        ("sip:user@exa mple.com", "whitespace"),
        ("sip:user@example.com:99999", "bad port '99999'"),
        ("sip:user@example.com:50a", "bad port '50a'"),
        ("sip:user@[2001:db8::1", "unterminated IPv6"),
        ("sip:user@[2001:zz8::1]", "bad IPv6 address"),
        ("sip:user@-bad-.com", "bad host"),
        ("sip:user@example.com;;lr", "empty parameter"),
        ("sip:user@example.com;lr;LR", "parameter 'LR' appears twice"),
        ("sip:us%zzer@example.com", "bad %-escape"),
        ("tel:", "bad telephone number"),
        ("sip:user@example.com?Subject", "bad header 'Subject'"),
    ],
)
def test_bad_uris(text, reason):
    assert reason in parse_error(SipUri.parse, text).reason


def test_is_absolute_uri():
    assert is_absolute_uri("nobodyknows:thisschemefornow")
    assert is_absolute_uri("soap.beep://192.0.2.103:3002")
    assert not is_absolute_uri("<sip:a@b>")
    assert not is_absolute_uri("no-colon")
    assert not is_absolute_uri("1abc:x")


# -- name-addr ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "display", "uri", "params", "bracketed"),
    [
        (
            '"Test User" <sip:1000@192.168.100.10>;tag=as6f893afb',
            "Test User",
            "sip:1000@192.168.100.10",
            {"tag": "as6f893afb"},
            True,
        ),
        (
            '"Test User"<sip:1000@192.168.100.10>;tag=as6f893afb',
            "Test User",
            "sip:1000@192.168.100.10",
            {"tag": "as6f893afb"},
            True,
        ),
        (
            "<sip:+14255550150@192.168.100.20>;epid=075854646D;tag=d6cf4571f",
            None,
            "sip:+14255550150@192.168.100.20",
            {"epid": "075854646D", "tag": "d6cf4571f"},
            True,
        ),
        (
            "sip:+14255550150@192.168.100.20",
            None,
            "sip:+14255550150@192.168.100.20",
            {},
            False,
        ),
        (
            # Lync's 183: without <>, transport and maddr are header parameters
            "sip:mediationsrv.contoso.com:5060;transport=Tcp;maddr=192.168.100.20",
            None,
            "sip:mediationsrv.contoso.com:5060",
            {"transport": "Tcp", "maddr": "192.168.100.20"},
            False,
        ),
        (
            "Bob  Smith <sip:bob@example.com;transport=tcp> ; expires = 3600",
            "Bob Smith",
            "sip:bob@example.com;transport=tcp",
            {"expires": "3600"},
            True,
        ),
        (
            '<sip:a@example.com>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"',
            None,
            "sip:a@example.com",
            {"+sip.instance": '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'},
            True,
        ),
        ("<tel:+14255550150>;tag=1", None, "tel:+14255550150", {"tag": "1"}, True),
    ],
)
def test_name_addr(text, display, uri, params, bracketed):
    addr = NameAddr.parse(text)
    assert addr.display == display
    assert str(addr.uri) == uri
    assert addr.params == params
    assert addr.bracketed is bracketed
    assert str(addr) == text


def test_name_addr_conveniences_and_rebuild():
    addr = NameAddr.parse("<sip:+14255550150@192.168.100.20>;epid=075854646D;tag=d6cf4571f")
    assert addr.tag == "d6cf4571f" and addr.epid == "075854646D"
    assert addr.param("TAG") == "d6cf4571f" and addr.has_param("Epid")
    addr.params["tag"] = "new"
    assert str(addr) == "<sip:+14255550150@192.168.100.20>;epid=075854646D;tag=new"
    addr.display = 'Quote " me'
    assert str(addr).startswith('"Quote \\" me" <sip:')
    assert NameAddr.parse(str(addr)).display == 'Quote " me'
    built = NameAddr(SipUri(user="a", host="b", params={"transport": "tcp"}), bracketed=False)
    assert str(built) == "<sip:a@b;transport=tcp>"  # URI params force <>


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ('"unterminated <sip:a@b>', "unterminated quoted string"),
        ('"x" sip:a@b', "quoted display name not followed by '<'"),
        ("<sip:a@b", "'<' without '>'"),
        ("< sip:a@b >", "whitespace inside <...>"),
        ("Bell, Alexander <sip:a@b>", "must be quoted"),
        ("sip:user@example.com?Route=%3Csip:x%3E", "must be enclosed in <>"),
        ("<sip:a@b>;tag", None),  # a valueless tag is legal syntax
        ("<sip:a@b> junk", "unexpected text 'junk'"),
        ("*", "no scheme"),
    ],
)
def test_bad_name_addrs(text, reason):
    if reason is None:
        assert NameAddr.parse(text).tag is None
        return
    assert reason in parse_error(NameAddr.parse, text).reason


def test_parse_name_addrs_lists():
    addrs = parse_name_addrs('<sip:a@b;lr>, "x,y" <sip:c@d>;q=0.1')
    assert [str(a.uri) for a in addrs] == ["sip:a@b;lr", "sip:c@d"]
    with pytest.raises(SipParseError, match="empty element"):
        parse_name_addrs("<sip:a@b>,,<sip:c@d>")


# -- Via ------------------------------------------------------------------------------


def test_via_fields():
    via = parse_via("SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bK0bb3ed94;rport")
    assert (via.protocol, via.transport, via.host, via.port) == (
        "SIP/2.0",
        "TCP",
        "192.168.100.10",
        5060,
    )
    assert via.branch == "z9hG4bK0bb3ed94"
    assert via.has_param("rport") and via.rport is None
    assert via.sent_by == "192.168.100.10:5060"
    assert str(via) == "SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bK0bb3ed94;rport"
    via = parse_via(
        "SIP/2.0/TCP 192.168.100.20:5060;branch=z9hG4bKcdb285d;received=192.168.100.20;rport=5999"
    )
    assert via.received == "192.168.100.20" and via.rport == 5999


def test_via_with_lws_ipv6_and_rebuild():
    via = parse_via("SIP  /  2.0 / UDP   [2001:db8::9:1]:5070 ; branch = z9hG4bKas3-111")
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "[2001:db8::9:1]",
        5070,
        "z9hG4bKas3-111",
    )
    assert str(via) == "SIP  /  2.0 / UDP   [2001:db8::9:1]:5070 ; branch = z9hG4bKas3-111"
    via.params["received"] = "[2001:db8::9:255]"
    assert (
        str(via)
        == "SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111;received=[2001:db8::9:255]"
    )
    assert str(Via("TCP", "a.example.com", None, {"branch": "z9hG4bK1"})) == (
        "SIP/2.0/TCP a.example.com;branch=z9hG4bK1"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("SIP/2.0/UDP", "expected 'SIP/2.0/TRANSPORT host[:port][;params]'"),
        ("SIP/2.0 192.0.2.1", "expected"),
        ("SIP/2.0/UDP 192.0.2.15;;,;,,", "several values"),
        ("SIP/2.0/UDP 192.0.2.15;;", "empty parameter"),
        ("SIP/2.0/UDP 192.0.2.15:x", "bad port"),
        ("SIP/2.0/UDP a b", "bad host"),
    ],
)
def test_bad_vias(text, reason):
    assert reason in parse_error(parse_via, text).reason


def test_parse_vias_splits_a_line():
    vias = parse_vias("SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5060;branch=z9hG4bK2")
    assert [(v.host, v.port) for v in vias] == [("a", None), ("b", 5060)]


def test_unquote_parameter_values():
    from harness.sip.uri import unquote

    addr = NameAddr.parse('<sip:a@b>;+sip.instance="<urn:uuid:1>";x="a\\"b";y=plain')
    assert unquote(addr.param("+sip.instance")) == "<urn:uuid:1>"
    assert unquote(addr.param("x")) == 'a"b'
    assert unquote(addr.param("y")) == "plain"
    assert unquote(None) is None
