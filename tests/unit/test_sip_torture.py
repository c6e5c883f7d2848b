"""Torture messages in the style of RFC 4475: what a parser must accept, and must reject.

The messages are written for this suite (host names from RFC 2606/5737), one per RFC 4475
case they imitate, named after that case's file name (wsinv, intmeth, ...).
"""

from __future__ import annotations

import pytest

from harness.sip import NameAddr, Request, Response, parse_message
from harness.sip.uri import parse_vias
from tests.support.sip_errors import parse_error


def wire(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


# -- 3.1.1 valid messages -------------------------------------------------------------

WSINV = wire(
    """INVITE sip:carol@chair.example.com;unknownparam SIP/2.0
TO :
 sip:carol@chair.example.com ;   tag    = 8321234356
from   : "Jay \\\\Dee \\"Quoted\\"" <sip:jd@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;rport;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jd@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)


def test_wsinv_short_tortuous_invite():
    msg = parse_message(WSINV)
    assert isinstance(msg, Request)
    assert msg.serialize() == WSINV
    assert msg.uri == "sip:carol@chair.example.com;unknownparam"
    assert msg.sip_uri.params == {"unknownparam": None}
    assert msg.to_tag == "8321234356"
    assert msg.from_tag == "98asjd8"
    assert msg.from_addr is not None and msg.from_addr.display == 'Jay \\Dee "Quoted"'
    assert msg.headers.get("Max-Forwards") == "0068"
    assert msg.cseq == (9, "INVITE")
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    vias = [v for value in msg.headers.values("Via") for v in parse_vias(value)]
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.via_branch == "390skdjuw"
    contact = NameAddr.parse(msg.headers.values("Contact")[0])
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert msg.content_length == 150 == len(msg.body)
    sdp = msg.sdp()
    assert sdp is not None and [m.media for m in sdp.media] == ["audio", "video"]


INTMETH = wire(
    """!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\xef\xbb\xbfAn extension header
Content-Length: 0

""".encode("latin-1").decode("utf-8")
)


def test_intmeth_wide_range_of_valid_characters():
    msg = parse_message(INTMETH)
    assert isinstance(msg, Request)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = msg.sip_uri
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert msg.from_addr is not None
    assert msg.from_addr.display == "token1~` token2'+_ token3*%!.-"
    assert msg.from_tag == "_token~1'+`*%!-."
    assert msg.to_addr is not None and msg.to_addr.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeffAn extension header"
    assert msg.serialize() == INTMETH


def test_esc01_and_escnull_percent_escapes_are_kept():
    data = wire(
        """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%61lice@example.com
From: <sip:null-%00-null@example.com>;tag=839923423
Max-Forwards: 70
Call-ID: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
Contact: <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 0

"""
    )
    msg = parse_message(data)
    assert msg.sip_uri.user == "sips%3Auser%40example.com"
    assert msg.from_addr is not None and msg.from_addr.uri.user == "null-%00-null"
    contact = NameAddr.parse(msg.headers.get("Contact") or "")
    assert contact.uri.params == {"%6C%72": None, "n%61me": "v%61lue%25%34%31"}
    assert str(contact) == "<sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>"


def test_lwsdisp_and_semiuri_and_transports():
    data = wire(
        """OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

"""
    )
    msg = parse_message(data)
    assert msg.sip_uri.user == "user;par=u%40example.net"
    assert msg.from_addr is not None and msg.from_addr.display == "caller"
    assert [parse_vias(v)[0].transport for v in msg.headers.values("v")] == [
        "UDP",
        "SCTP",
        "TLS",
        "UNKNOWN",
        "TCP",
    ]
    assert msg.content_length == 0


def test_dblreq_extra_octets_in_a_datagram_are_ignored():
    first = wire(
        """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreg.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0

"""
    )
    second = first.replace(b"CSeq: 8", b"CSeq: 9")
    msg = parse_message(first + second)
    assert msg.cseq == (8, "REGISTER")
    assert msg.trailing == second
    assert msg.call_id == "dblreg.0ha0isndaksdj99sdfafnl3lk233412"


@pytest.mark.parametrize(
    ("status_line", "reason"),
    [
        ("SIP/2.0 100 \xe5\xa4\xa7\xe9\x98\xaa\xe5\xb8\x82", "\u5927\u962a\u5e02"),  # unreason
        ("SIP/2.0 100 ", ""),  # noreason: SP and an empty reason phrase
        ("sip/2.0 200 OK", "OK"),  # the version is case-insensitive
    ],
)
def test_unusual_reason_phrases(status_line, reason):
    data = status_line.encode("latin-1") + wire(
        """
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 0

"""
    )
    msg = parse_message(data)
    assert isinstance(msg, Response) and msg.reason == reason
    assert msg.serialize() == data


def test_mpart01_multipart_body():
    body = wire(
        """--7a9cbec02ceef655
Content-Type: application/sdp
Content-Transfer-Encoding: binary

v=0
o=username 0 0 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 5004 RTP/AVP 0
a=rtpmap:0 PCMU/8000

--7a9cbec02ceef655
Content-Type: application/octet-stream
Content-Transfer-Encoding: binary

\x00\x01\x02
--7a9cbec02ceef655--
"""
    )
    head = wire(
        f"""MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKz
Max-Forwards: 70
From: <sip:a@example.org>;tag=1
To: <sip:kumiko@example.org>
Call-ID: mpart01@192.0.2.1
CSeq: 1 MESSAGE
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Content-Length: {len(body)}

"""
    )
    sdp = parse_message(head + body).sdp()
    assert sdp is not None and sdp.media[0].rtpmap() == {0: ("PCMU", 8000, 1)}


# -- 3.1.2 invalid messages -----------------------------------------------------------

BASE = """Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKbad
Max-Forwards: 70
From: <sip:caller@example.net>;tag=134161461246
To: <sip:j.user@example.com>
Call-ID: bad.1@192.0.2.15
CSeq: 8 INVITE
Content-Length: 0

"""


def invalid(start: str, headers: str = BASE) -> bytes:
    return wire(f"{start}\n{headers}")


INVALID = {
    # badinv01: extraneous header field separators
    "badinv01": (
        invalid(
            "INVITE sip:user@example.com SIP/2.0", BASE.replace(";branch=z9hG4bKbad", ";;,;,,")
        ),
        "line 2: Via 'SIP/2.0/UDP 192.0.2.15;;,;,,': empty element",
    ),
    # clerr: Content-Length larger than the message
    "clerr": (
        invalid("INVITE sip:user@example.com SIP/2.0", BASE.replace("Length: 0", "Length: 9999"))
        + b"v=0\r\n",
        "Content-Length 9999 but body has 5 bytes",
    ),
    "ncl": (
        invalid("INVITE sip:user@example.com SIP/2.0", BASE.replace("Length: 0", "Length: -999")),
        "line 8: bad Content-Length '-999'",
    ),
    "scalar02": (
        invalid(
            "REGISTER sip:example.com SIP/2.0",
            BASE.replace("8 INVITE", "36893488147419103232 REGISTER"),
        ),
        "line 7: CSeq number 36893488147419103232 is larger than 2**31-1",
    ),
    "scalarlg": (
        invalid("SIP/2.0 503 Service Unavailable", BASE + "").replace(
            b"Max-Forwards: 70", b"Max-Forwards: 300"
        ),
        "line 3: bad Max-Forwards '300' (0..255)",
    ),
    "quotbal": (
        invalid(
            "INVITE sip:user@example.com SIP/2.0",
            BASE.replace("From: <sip:", 'From: "Mr. J. User <sip:'),
        ),
        (
            "line 4: header 'From': unterminated quoted string in "
            "'\"Mr. J. User <sip:caller@example.net>;tag=134161461246'"
        ),
    ),
    "ltgtruri": (
        invalid("INVITE <sip:user@example.com> SIP/2.0"),
        "request line: bad Request-URI '<sip:user@example.com>'",
    ),
    "lwsruri": (
        invalid("INVITE sip:user@example.com; lr SIP/2.0"),
        (
            "request line: 'INVITE sip:user@example.com; lr SIP/2.0' is not "
            "'METHOD SP Request-URI SP SIP/2.0' (single spaces, nothing after the version)"
        ),
    ),
    "lwsstart": (
        invalid("INVITE  sip:user@example.com  SIP/2.0"),
        (
            "request line: 'INVITE  sip:user@example.com  SIP/2.0' is not "
            "'METHOD SP Request-URI SP SIP/2.0' (single spaces, nothing after the version)"
        ),
    ),
    "trws": (
        invalid("INVITE sip:user@example.com SIP/2.0  "),
        (
            "request line: 'INVITE sip:user@example.com SIP/2.0  ' is not "
            "'METHOD SP Request-URI SP SIP/2.0' (single spaces, nothing after the version)"
        ),
    ),
    "escruri": (
        invalid("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0"),
        (
            "request line: Request-URI 'sip:user@example.com?Route=%3Csip:example.com%3E' "
            "must not contain headers ('?...')"
        ),
    ),
    "badaspec": (
        invalid(
            "INVITE sip:user@example.com SIP/2.0",
            BASE.replace(
                "To: <sip:j.user@example.com>", 'To: "Watson, Thomas" < sip:t.watson@example.org >'
            ),
        ),
        (
            "line 5: header 'To': name-addr '\"Watson, Thomas\" < sip:t.watson@example.org >': "
            "whitespace inside <...>"
        ),
    ),
    "baddn": (
        invalid(
            "INVITE sip:user@example.com SIP/2.0",
            BASE.replace("From: <sip:", "From: Bell, Alexander <sip:"),
        ),
        (
            "line 4: header 'From': name-addr 'Bell, Alexander <sip:caller@example.net>;"
            "tag=134161461246': display name 'Bell, Alexander' must be quoted (contains 'Bell,')"
        ),
    ),
    "badvers": (
        invalid("OPTIONS sip:t.watson@example.org SIP/7.0"),
        "request line: unknown SIP version 'SIP/7.0'",
    ),
    "mismatch01": (
        invalid("OPTIONS sip:user@example.com SIP/2.0"),
        "line 7: CSeq method 'INVITE' does not match request method 'OPTIONS'",
    ),
    "mismatch02": (
        invalid("NEWMETHOD sip:user@example.com SIP/2.0"),
        "line 7: CSeq method 'INVITE' does not match request method 'NEWMETHOD'",
    ),
    "bigcode": (
        invalid("SIP/2.0 4294967301 better not break the receiver"),
        "status line: bad status code '4294967301'",
    ),
    "insuf": (
        invalid(
            "INVITE sip:user@example.com SIP/2.0",
            "\n".join(
                line for line in BASE.split("\n") if not line.startswith(("Call-ID", "From"))
            ),
        ),
        "missing mandatory headers: From, Call-ID",
    ),
    "multi01": (
        invalid("INVITE sip:user@example.com SIP/2.0", "To: <sip:other@example.com>\n" + BASE),
        "header 'To' appears 2 times (lines 2, 6)",
    ),
    "mcl01": (
        invalid(
            "OPTIONS sip:user@example.com SIP/2.0",
            BASE.replace("8 INVITE", "8 OPTIONS").replace(
                "Content-Length: 0", "Content-Length: 0\nl: 0"
            ),
        ),
        "header 'Content-Length' appears 2 times (lines 8, 9)",
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_messages_are_rejected_with_a_reason(name):
    data, reason = INVALID[name]
    assert parse_error(parse_message, data).reason == reason
