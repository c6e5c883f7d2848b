"""Gateway profiles: which image runs the gateway, where its configuration lives, and the
CLI commands that differ between Asterisk's SIP channel drivers. The checks never look
here: a profile says how to drive a gateway, not what to expect of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.gateway.adapter import Driver

__all__ = ["EXTERNAL", "Fault", "GatewayProfile", "ProfileError", "profile", "profile_names"]

EXTERNAL = "external"


class ProfileError(ValueError):
    """An unknown profile name; the message lists the known ones."""


@dataclass(frozen=True)
class Fault:
    """A real misconfiguration a test injects: text replaced in one file, modules reloaded."""

    file: str
    replacements: tuple[tuple[str, str], ...]
    reload: tuple[str, ...]
    # A CLI view and a pattern it shows while the gateway runs with the fault. chan_sip's
    # `module reload` returns before its monitor thread has reloaded sip.conf, so the
    # harness reads this view until the fault shows (and, restored, no longer does).
    applied: tuple[str, str] | None = None


@dataclass(frozen=True)
class GatewayProfile:
    name: str
    title: str
    # the image compose runs, and how containers/bootstrap.sh builds it (relative to the
    # project's assets: the checkout, or the packaged defaults)
    image: str
    build_context: str
    dockerfile: str
    # the configuration tree mounted at /fixtures (rendered into /etc/asterisk)
    config: str
    required_files: tuple[str, ...]
    # `module reload` after a configuration file changed, in this order
    reload_modules: tuple[str, ...]
    # shown with a failed flow's artifacts
    state_commands: tuple[str, ...]
    # restarts the Skype for SIP registration (a fresh REGISTER, challenged)
    register_again: str
    # what the pcaps' User-Agent/Server says (a regular expression)
    user_agent: str
    faults: dict[str, Fault] = field(default_factory=dict)
    # the seed's troubleshooting view of the trunk in this driver's CLI: the command and
    # what its line for to_lync must look like when the trunk is qualified and answers
    trunk_view: tuple[str, str] = ("", "")
    # the SIP channel driver, for the AMI adapter's peer-state actions
    driver: Driver = "pjsip"
    build_args: tuple[tuple[str, str], ...] = ()


# res_xmpp reads the same xmpp.conf in both Asterisks
_XMPP_PASSWORD = Fault(
    "xmpp.conf", (("secret=contoso-xmpp", "secret=not-the-password"),), ("res_xmpp.so",)
)

# The seed's [guest]/[account] allow=ulaw removed from motif.conf's one endpoint: with
# disallow=all left alone it allows no codec, so chan_motif refuses every Jingle session
# (the same lines in both Asterisks' motif.conf)
_MOTIF_WITHOUT_ULAW = Fault(
    "motif.conf",
    (("disallow=all\nallow=ulaw\ncontext=from-gtalk\n", "disallow=all\ncontext=from-gtalk\n"),),
    ("chan_motif.so",),
)

_PJSIP = GatewayProfile(
    name="asterisk22-pjsip",
    title="Asterisk 22 (Debian sid), the seed's sip.conf translated to PJSIP",
    image="sipharness/asterisk:latest",
    build_context="containers/asterisk",
    dockerfile="containers/asterisk/Dockerfile",
    config="fixtures/asterisk",
    required_files=("asterisk.conf", "modules.conf", "pjsip.conf", "extensions.conf",
                    "xmpp.conf", "motif.conf", "manager.conf", "logger.conf", "rtp.conf"),
    reload_modules=("res_pjsip.so", "pbx_config.so"),
    state_commands=("pjsip show endpoints", "pjsip show registrations",
                    "core show channels verbose"),
    register_again="pjsip send register skype-reg",
    trunk_view=("pjsip show contacts", r"to_lync/sip:\S+\s+\S+\s+Avail\s+\d+\.\d+"),
    user_agent=r"Asterisk PBX 22\.",
    faults={
        "trunk-over-udp": Fault(
            "pjsip.conf",
            (("transport=transport-tcp", "transport=transport-udp"),
             ("\\;transport=tcp", "\\;transport=udp")),
            ("res_pjsip.so",),
        ),
        "caller-id-not-set": Fault(
            "extensions.conf",
            ((" same => n,Set(CALLERID(num)=99051000107808)\n", ""),),
            ("pbx_config.so",),
        ),
        "wrong-xmpp-password": _XMPP_PASSWORD,
        "motif-without-ulaw": _MOTIF_WITHOUT_ULAW,
        # the trunk allows a codec the seed's [to_lync] does not (disallow=all, allow=ulaw)
        "trunk-allows-alaw": Fault(
            "pjsip.conf",
            (("aors=to_lync\n; seed [general] context=default\ncontext=default\n"
              "disallow=all\nallow=ulaw\n",
              "aors=to_lync\n; seed [general] context=default\ncontext=default\n"
              "disallow=all\nallow=ulaw,alaw\n"),),
            ("res_pjsip.so",),
        ),
        # calls without credentials: the softphone's endpoint without its auth, so anyone
        # who says he is 1000 calls through (PJSIP has no allowguest; the seed's
        # allowguest=no and secret = 1000 say no)
        "unauthenticated-calls": Fault(
            "pjsip.conf",
            (("aors=1000\nauth=1000\ncontext=default\n", "aors=1000\ncontext=default\n"),),
            ("res_pjsip.so",),
        ),
        # the trunk's DTMF as inband tones instead of the seed's dtmfmode=rfc2833
        "trunk-dtmf-inband": Fault(
            "pjsip.conf",
            (("allow=ulaw\ndtmf_mode=rfc4733\n; keep media through Asterisk",
              "allow=ulaw\ndtmf_mode=inband\n; keep media through Asterisk"),),
            ("res_pjsip.so",),
        ),
        # the trunk's 183 no longer becomes a 180 toward the caller (seed steps 3-4)
        "no-180-after-183": Fault(
            "pjsip.conf",
            (("allow_sending_180_after_183=yes", "allow_sending_180_after_183=no"),),
            ("res_pjsip.so",),
        ),
    },
)

# What chan_sip's views show once its monitor thread has reloaded sip.conf with a fault
_PEER_TRANSPORT_UDP = r"(?m)^\s*Prim\.Transp\.\s*:\s*UDP"
_PEER_DTMF_INBAND = r"(?m)^\s*DTMFmode\s*:\s*inband"
_PEER_ALLOWS_ALAW = r"(?m)^\s*Codecs\s*:.*alaw"
_GUESTS_ALLOWED = r"(?m)^\s*Allow unknown access:\s*Yes"

_CHANSIP = GatewayProfile(
    name="asterisk16-chansip",
    title="Asterisk 16 (Debian bullseye), the seed's own sip.conf on chan_sip",
    image="sipharness/asterisk16:latest",
    build_context="containers/asterisk",
    dockerfile="containers/asterisk/Dockerfile",
    build_args=(("BASE", "sipharness/bullseye:base"),),
    config="fixtures/asterisk16-chansip",
    required_files=("asterisk.conf", "modules.conf", "sip.conf", "extensions.conf",
                    "xmpp.conf", "motif.conf", "manager.conf", "logger.conf", "rtp.conf"),
    reload_modules=("chan_sip.so", "pbx_config.so"),
    state_commands=("sip show peers", "sip show registry", "core show channels verbose"),
    register_again="sip reload",
    driver="chan_sip",
    # seed, "Troubleshooting": `sip show peers` ... to_lync ... OK (1 ms)
    trunk_view=("sip show peers", r"^to_lync\s.*\bOK \(\d+ ms\)"),
    user_agent=r"Asterisk PBX 16\.",
    faults={
        "trunk-over-udp": Fault(
            "sip.conf", (("transport = tcp", "transport = udp"),), ("chan_sip.so",),
            ("sip show peer to_lync", _PEER_TRANSPORT_UDP),
        ),
        "caller-id-not-set": Fault(
            "extensions.conf",
            (("exten => 1001,n,Set(CALLERID(num)= 99051000107808)\n", ""),),
            ("pbx_config.so",),
        ),
        "wrong-xmpp-password": _XMPP_PASSWORD,
        "motif-without-ulaw": _MOTIF_WITHOUT_ULAW,
        # (no "no-180-after-183": chan_sip has no setting for it; it turns the trunk's 183
        # into a 180 toward the caller by itself)
        # the seed's own line turned round: calls from hosts that are no peer
        "unauthenticated-calls": Fault(
            "sip.conf", (("allowguest=no", "allowguest=yes"),), ("chan_sip.so",),
            ("sip show settings", _GUESTS_ALLOWED),
        ),
        # [to_lync] leaves dtmfmode at chan_sip's default, rfc2833
        "trunk-dtmf-inband": Fault(
            "sip.conf", (("qualify = yes\ntransport = tcp\n", "qualify = yes\ntransport = tcp\n"
                          "dtmfmode = inband\n"),), ("chan_sip.so",),
            ("sip show peer to_lync", _PEER_DTMF_INBAND),
        ),
        "trunk-allows-alaw": Fault(
            "sip.conf",
            (("qualify = yes\ntransport = tcp\n", "qualify = yes\ntransport = tcp\n"
              "allow = alaw\n"),),
            ("chan_sip.so",),
            ("sip show peer to_lync", _PEER_ALLOWS_ALAW),
        ),
    },
)

_PROFILES = {p.name: p for p in (_PJSIP, _CHANSIP)}


def profile_names() -> tuple[str, ...]:
    return (*_PROFILES, EXTERNAL)


def profile(name: str) -> GatewayProfile:
    try:
        return _PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"unknown gateway {name!r}: choose one of {', '.join(profile_names())}"
        ) from None
