"""The sans-I/O RFC 3261 transactions (harness.sip.transaction), matching and the table
(harness.sip.matching) and the received/rport rules (harness.sip.transport): events in,
events out, no sockets, no clock."""

from __future__ import annotations

import pytest

from harness.sip.builder import make_ack, make_cancel, make_request, make_response, via_value
from harness.sip.errors import SipUsageError
from harness.sip.matching import (
    TransactionTable,
    cancel_target_key,
    client_key,
    server_key,
)
from harness.sip.message import Request, Response
from harness.sip.transaction import (
    CancelTimer,
    ClientTransaction,
    Event,
    FinalReceived,
    ProvisionalReceived,
    Retransmitted2xx,
    ServerTransaction,
    StartTimer,
    State,
    Terminated,
    TimedOut,
    TimerConfig,
    Transmit,
    TransportFailed,
)
from harness.sip.transport import mark_received, response_address, top_via

CFG = TimerConfig(t1=0.5, t2=4.0, t4=5.0)


def req(method: str = "INVITE", branch: str = "z9hG4bKabc", cseq: int = 1) -> Request:
    return make_request(
        method,
        "sip:bob@192.0.2.2",
        from_="<sip:alice@192.0.2.1>;tag=a1",
        to="<sip:bob@192.0.2.2>",
        call_id="call-1",
        cseq=cseq,
        via=via_value("UDP", "192.0.2.1", 5060, branch=branch),
        contact="<sip:alice@192.0.2.1>",
    )


def resp(request: Request, status: int, tag: str | None = "b1") -> Response:
    return make_response(request, status, to_tag=tag if status > 100 else None)


def sent(events: list[Event]) -> list[Request | Response]:
    return [e.message for e in events if isinstance(e, Transmit)]


def started(events: list[Event]) -> dict[str, float]:
    return {e.name: e.delay for e in events if isinstance(e, StartTimer)}


def cancelled(events: list[Event]) -> set[str]:
    return {e.name for e in events if isinstance(e, CancelTimer)}


def kinds(events: list[Event]) -> list[type]:
    return [type(e) for e in events]


# -- client INVITE ----------------------------------------------------------------------------


def test_client_invite_timer_a_doubles_without_cap_until_timer_b() -> None:
    invite = req()
    txn = ClientTransaction(invite, CFG)
    first = txn.start()
    assert sent(first) == [invite] and started(first) == {"A": 0.5, "B": 32.0}
    assert txn.state is State.CALLING
    delays = []
    for _ in range(6):
        events = txn.timer_fired("A")
        assert [e for e in events if isinstance(e, Transmit)] == [Transmit(invite, True)]
        delays.append(started(events)["A"])
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]  # Timer A is not capped at T2
    assert txn.sends == 7
    events = txn.timer_fired("B")
    assert TimedOut("B") in events and isinstance(events[-1], Terminated)
    assert cancelled(events) == {"A"} and txn.terminated
    assert txn.timer_fired("A") == [] and txn.receive(resp(invite, 200)) == []


def test_client_invite_provisional_stops_a_and_b() -> None:
    invite = req()
    txn = ClientTransaction(invite, CFG)
    txn.start()
    ringing = resp(invite, 180)
    events = txn.receive(ringing)
    assert cancelled(events) == {"A", "B"} and ProvisionalReceived(ringing) in events
    assert txn.state is State.PROCEEDING and txn.armed() == {}
    assert txn.timer_fired("A") == []  # a stale firing changes nothing
    assert txn.receive(resp(invite, 183)) == [ProvisionalReceived(resp(invite, 183))]


def test_client_invite_2xx_accepted_state_passes_retransmissions_to_the_tu() -> None:
    invite = req()
    txn = ClientTransaction(invite, CFG)
    txn.start()
    ok = resp(invite, 200)
    events = txn.receive(ok)
    assert FinalReceived(ok) in events and started(events) == {"M": 32.0}
    assert sent(events) == []  # the TU sends the ACK of a 2xx
    assert txn.state is State.ACCEPTED and txn.ack is None
    assert txn.receive(ok) == [Retransmitted2xx(ok)]
    assert txn.receive(resp(invite, 180)) == []
    assert kinds(txn.timer_fired("M")) == [Terminated]


def test_client_invite_non_2xx_is_acked_here_and_again_for_retransmissions() -> None:
    invite = req()
    txn = ClientTransaction(invite, CFG)
    txn.start()
    txn.receive(resp(invite, 100))
    busy = resp(invite, 486)
    events = txn.receive(busy)
    ack = txn.ack
    assert ack is not None and sent(events) == [ack]
    assert ack.method == "ACK" and ack.via_branch == invite.via_branch and ack.uri == invite.uri
    assert ack.cseq == (1, "ACK") and ack.to_tag == "b1"
    assert FinalReceived(busy) in events and started(events) == {"D": 32.0}
    assert kinds(events).index(Transmit) < kinds(events).index(FinalReceived)
    assert txn.state is State.COMPLETED
    again = txn.receive(busy)
    assert again == [Transmit(ack, True)]
    assert kinds(txn.timer_fired("D")) == [Terminated]


def test_client_invite_uses_the_given_ack_factory() -> None:
    invite = req()
    built: list[tuple[Request, Response]] = []

    def factory(request: Request, response: Response) -> Request:
        built.append((request, response))
        ack = make_ack(request, response)
        ack.headers.add("User-Agent", "test")
        return ack

    txn = ClientTransaction(invite, CFG, ack_factory=factory)
    txn.start()
    events = txn.receive(resp(invite, 603))
    assert built and (sent(events)[0].headers.get("User-Agent")) == "test"


def test_client_invite_reliable_no_retransmission_and_no_timer_d() -> None:
    invite = req()
    txn = ClientTransaction(invite, CFG, reliable=True)
    assert started(txn.start()) == {"B": 32.0}
    events = txn.receive(resp(invite, 404))
    assert kinds(events) == [CancelTimer, Transmit, FinalReceived, Terminated]
    assert txn.terminated


# -- client non-INVITE ------------------------------------------------------------------------


def test_client_non_invite_timer_e_doubles_to_t2_then_t2_in_proceeding() -> None:
    bye = req("BYE", cseq=2)
    txn = ClientTransaction(bye, CFG)
    assert started(txn.start()) == {"E": 0.5, "F": 32.0}
    assert txn.state is State.TRYING
    delays = [started(txn.timer_fired("E"))["E"] for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert txn.receive(resp(bye, 100)) == [ProvisionalReceived(resp(bye, 100))]
    assert txn.state is State.PROCEEDING
    assert started(txn.timer_fired("E")) == {"E": 4.0}
    ok = resp(bye, 200)
    events = txn.receive(ok)
    assert cancelled(events) == {"E", "F"} and FinalReceived(ok) in events
    assert started(events) == {"K": 5.0} and txn.state is State.COMPLETED
    assert txn.receive(ok) == []  # absorbed in Completed
    assert kinds(txn.timer_fired("K")) == [Terminated]


def test_client_non_invite_timer_f_and_reliable_timer_k_zero() -> None:
    txn = ClientTransaction(req("OPTIONS"), CFG)
    txn.start()
    events = txn.timer_fired("F")
    assert TimedOut("F") in events and txn.terminated and cancelled(events) == {"E"}
    options = req("OPTIONS")
    tcp = ClientTransaction(options, CFG, reliable=True)
    assert started(tcp.start()) == {"F": 32.0}
    assert kinds(tcp.receive(resp(options, 200))) == [CancelTimer, FinalReceived, Terminated]


def test_client_transport_failure_and_ack_refused() -> None:
    txn = ClientTransaction(req("BYE"), CFG)
    txn.start()
    events = txn.transport_failed("no route")
    assert events[0] == TransportFailed("no route") and isinstance(events[-1], Terminated)
    assert txn.transport_failed("again") == []
    with pytest.raises(SipUsageError):
        ClientTransaction(req("ACK"), CFG)


def test_timer_values_are_configurable() -> None:
    fast = TimerConfig(t1=0.02, t2=0.1, t4=0.2, timer_d=1.0)
    txn = ClientTransaction(req("MESSAGE"), fast)
    assert started(txn.start()) == {"E": 0.02, "F": 64 * 0.02}
    delays = [started(txn.timer_fired("E"))["E"] for _ in range(4)]
    assert delays == [0.04, 0.08, 0.1, 0.1]


# -- server INVITE ----------------------------------------------------------------------------


def test_server_invite_non_2xx_timer_g_doubles_to_t2_until_ack_then_timer_i() -> None:
    invite = req()
    txn = ServerTransaction(invite, CFG)
    assert txn.state is State.PROCEEDING
    assert txn.receive(invite) == []  # retransmission before any response: absorbed
    trying = resp(invite, 100)
    assert txn.respond(trying) == [Transmit(trying)]
    assert txn.receive(invite) == [Transmit(trying, True)]
    busy = resp(invite, 486)
    events = txn.respond(busy)
    assert sent(events) == [busy] and started(events) == {"G": 0.5, "H": 32.0}
    assert txn.state is State.COMPLETED and txn.final_status == 486
    delays = []
    for _ in range(5):
        events = txn.timer_fired("G")
        assert sent(events) == [busy]
        delays.append(started(events)["G"])
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert txn.receive(invite) == [Transmit(busy, True)]
    events = txn.receive(make_ack(invite, busy))
    assert cancelled(events) == {"G", "H"} and started(events) == {"I": 5.0}
    assert txn.state is State.CONFIRMED and txn.acked
    assert txn.receive(invite) == []  # Confirmed absorbs
    assert kinds(txn.timer_fired("I")) == [Terminated]
    with pytest.raises(SipUsageError):
        txn.respond(resp(invite, 500))


def test_server_invite_timer_h_reports_the_missing_ack() -> None:
    invite = req()
    txn = ServerTransaction(invite, CFG)
    txn.respond(resp(invite, 603))
    events = txn.timer_fired("H")
    assert TimedOut("H") in events and cancelled(events) == {"G"} and txn.terminated


def test_server_invite_2xx_accepted_retransmits_until_the_tu_acknowledges() -> None:
    invite = req()
    txn = ServerTransaction(invite, CFG)
    ok = resp(invite, 200)
    events = txn.respond(ok)
    assert started(events) == {"G": 0.5, "L": 32.0} and txn.state is State.ACCEPTED
    assert sent(txn.timer_fired("G")) == [ok]
    assert txn.receive(invite) == [Transmit(ok, True)]  # a late INVITE gets the 2xx again
    assert cancelled(txn.acknowledge()) == {"G"} and txn.acknowledge() == []
    assert txn.timer_fired("G") == []
    assert kinds(txn.timer_fired("L")) == [Terminated]  # acked: no TimedOut


def test_server_invite_2xx_without_ack_times_out_on_l_and_reliable_has_no_g() -> None:
    invite = req()
    txn = ServerTransaction(invite, CFG, reliable=True)
    ok = resp(invite, 200)
    assert started(txn.respond(ok)) == {"L": 32.0}
    events = txn.timer_fired("L")
    assert TimedOut("L") in events and txn.terminated
    tcp = ServerTransaction(invite, CFG, reliable=True)
    tcp.respond(resp(invite, 486))
    events = tcp.receive(make_ack(invite, resp(invite, 486)))
    assert kinds(events) == [CancelTimer, Terminated]  # Timer I is zero


# -- server non-INVITE ------------------------------------------------------------------------


def test_server_non_invite_trying_proceeding_completed_and_timer_j() -> None:
    bye = req("BYE", cseq=2)
    txn = ServerTransaction(bye, CFG)
    assert txn.state is State.TRYING and txn.receive(bye) == []
    txn.respond(resp(bye, 100))
    assert txn.state is State.PROCEEDING
    ok = resp(bye, 200)
    events = txn.respond(ok)
    assert sent(events) == [ok] and started(events) == {"J": 32.0}
    assert txn.receive(bye) == [Transmit(ok, True)] and txn.retransmits == 1
    assert kinds(txn.timer_fired("J")) == [Terminated]
    tcp = ServerTransaction(bye, CFG, reliable=True)
    assert kinds(tcp.respond(ok)) == [Transmit, Terminated]


def test_server_terminate_and_ack_refused() -> None:
    txn = ServerTransaction(req("OPTIONS"), CFG)
    assert kinds(txn.terminate()) == [Terminated] and txn.terminate() == []
    with pytest.raises(SipUsageError):
        ServerTransaction(req("ACK"), CFG)


# -- matching, the table, CANCEL --------------------------------------------------------------


def test_client_matching_by_branch_and_cseq_method() -> None:
    invite = req()
    assert client_key(invite) == ("z9hG4bKabc", "INVITE")
    txn = ClientTransaction(invite, CFG)
    assert txn.matches(resp(invite, 200))
    cancel = make_cancel(invite)
    assert not txn.matches(resp(cancel, 200))  # same branch, CSeq method CANCEL
    assert not txn.matches(resp(req(branch="z9hG4bKother"), 200))


def test_server_matching_rfc3261_and_rfc2543_and_cancel_lookup() -> None:
    invite = req()
    assert server_key(invite) == ("3261", "z9hG4bKabc", "192.0.2.1:5060", "INVITE")
    ack = make_ack(invite, resp(invite, 486))
    assert server_key(ack) == server_key(invite)
    cancel = make_cancel(invite)
    assert server_key(cancel)[-1] == "CANCEL" and cancel_target_key(cancel) == server_key(invite)
    old = req(branch="1234")  # no magic cookie: RFC 2543 peer
    key = server_key(old)
    assert key[:5] == ("2543", "call-1", "a1", "1", "INVITE")
    assert cancel_target_key(make_cancel(old)) == key
    other_sender = req()
    other_sender.headers.set("Via", via_value("UDP", "192.0.2.9", 5060, branch="z9hG4bKabc"))
    assert server_key(other_sender) != server_key(invite)


def test_table_finds_transactions_and_strays() -> None:
    table: TransactionTable[ClientTransaction, ServerTransaction] = TransactionTable()
    invite = req()
    client = ClientTransaction(invite, CFG)
    table.add_client(client)
    incoming = req(branch="z9hG4bKin")
    server = ServerTransaction(incoming, CFG)
    table.add_server(server)
    assert table.match_response(resp(invite, 180)) is client
    assert table.match_response(resp(req(branch="z9hG4bKstray"), 200)) is None
    assert table.match_request(incoming) is server
    assert table.match_request(make_ack(incoming, resp(incoming, 486))) is server
    assert table.match_request(req("ACK", branch="z9hG4bK2xxack")) is None  # a 2xx's ACK
    assert table.find_invite(make_cancel(incoming)) is server
    assert table.find_invite(make_cancel(req(branch="z9hG4bKnone"))) is None
    assert len(table) == 2
    table.remove_client(client)
    table.remove_server(server)
    assert len(table) == 0 and table.match_request(incoming) is None


# -- received / rport -------------------------------------------------------------------------


def test_mark_received_and_rport() -> None:
    with_rport = req()
    with_rport.headers.set(
        "Via", via_value("UDP", "192.0.2.1", 5060, branch="z9hG4bKx", rport=True)
    )
    assert mark_received(with_rport, ("198.51.100.7", 40000)) == ("198.51.100.7", 40000)
    assert (with_rport.headers.get("Via") or "").endswith(";received=198.51.100.7;rport=40000")
    via = top_via(with_rport.headers)
    assert via is not None and response_address(via, ("0.0.0.0", 1)) == ("198.51.100.7", 40000)
    same_host = req()
    before = same_host.headers.get("Via")
    assert mark_received(same_host, ("192.0.2.1", 5999)) == ("192.0.2.1", 5060)
    assert same_host.headers.get("Via") == before  # the host is the source: nothing added
    natted = req()
    assert mark_received(natted, ("203.0.113.5", 5999)) == ("203.0.113.5", 5060)
    assert (natted.headers.get("Via") or "").endswith(";received=203.0.113.5")
