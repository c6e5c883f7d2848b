"""Topology settings: the seed's addresses by default, clear errors for bad values."""

from __future__ import annotations

import pytest

from harness.topology.config import ConfigError, TopologyConfig


def test_seed_addresses_by_default():
    cfg = TopologyConfig()
    assert cfg.address("asterisk") == "192.168.100.10"
    assert cfg.address("mediation") == "192.168.100.20"
    assert cfg.address("softphone") == "192.168.100.40"
    env = cfg.compose_env()
    assert env["HARNESS_SUBNET"] == "192.168.100.0/24"
    assert env["HARNESS_ASTERISK_FIXTURES"].endswith("reports/run/asterisk")


def test_other_subnet_keeps_host_numbers(monkeypatch):
    monkeypatch.setenv("HARNESS_NET_PREFIX", "10.77.3")
    cfg = TopologyConfig.from_env()
    assert cfg.address("mediation") == "10.77.3.20"


@pytest.mark.parametrize("prefix", ["192.168.100.0", "300.1.1", "abc", "fe80::1"])
def test_bad_prefix_names_the_setting(prefix):
    with pytest.raises(ConfigError, match="subnet prefix"):
        TopologyConfig(net_prefix=prefix)


def test_bad_port_from_environment(monkeypatch):
    monkeypatch.setenv("HARNESS_CAPTURE_PORT", "http")
    with pytest.raises(ConfigError, match="HARNESS_CAPTURE_PORT"):
        TopologyConfig.from_env()


def test_the_gateway_profile_chooses_image_and_configuration(tmp_path):
    from tests.support.paths import ROOT

    cfg = TopologyConfig(root=ROOT, gateway="asterisk16-chansip")
    assert cfg.profile is not None and cfg.profile.image == "sipharness/asterisk16:latest"
    assert cfg.gateway_source == ROOT / "fixtures" / "asterisk16-chansip"
    assert cfg.compose_env()["HARNESS_GATEWAY_IMAGE"] == "sipharness/asterisk16:latest"
    assert [p.name for p in cfg.compose_files] == ["compose.yaml", "gateway.yaml"]
    own = TopologyConfig(root=ROOT, gateway_config=tmp_path)
    assert own.gateway_source == tmp_path


def test_folders_come_from_the_project_not_the_package(tmp_path):
    """A project folder without its own containers/ gets the packaged compose file (or, in
    a checkout where nothing is packaged, a clear error), and its reports in itself."""
    from harness.topology.errors import TopologyError

    cfg = TopologyConfig(root=tmp_path)
    assert cfg.reports_dir == tmp_path / "reports"
    (tmp_path / "containers").mkdir()
    (tmp_path / "containers" / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "containers" / "gateway.yaml").write_text("services: {}\n")
    assert cfg.compose_files[0] == tmp_path / "containers" / "compose.yaml"
    try:
        found = cfg.assets.find("scenarios")
    except TopologyError as exc:
        assert "neither in the project folder" in str(exc)
    else:
        assert "_defaults" in str(found)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"gateway": "asterisk99"}, "unknown gateway 'asterisk99': choose one of asterisk22-pjsip"),
    ({"gateway": "external"}, "needs --gateway-address HOST"),
    ({"gateway": "external", "gateway_address": "pbx.lab"}, "is not an IPv4 address"),
    ({"gateway_address": "10.0.0.5"}, "--gateway-address is for --gateway external"),
])
def test_wrong_gateway_options_say_what_to_do(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TopologyConfig(**kwargs)


def test_an_external_gateway_is_where_its_address_says(monkeypatch):
    monkeypatch.setenv("HARNESS_GATEWAY", "external")
    monkeypatch.setenv("HARNESS_GATEWAY_ADDRESS", "192.168.100.77")
    monkeypatch.setenv("HARNESS_GATEWAY_AMI", "admin:s3cret")
    cfg = TopologyConfig.from_env()
    assert cfg.external and cfg.profile is None
    assert cfg.address("asterisk") == "192.168.100.77"
    assert cfg.ami is not None and (cfg.ami.username, cfg.ami.secret) == ("admin", "s3cret")
    assert [p.name for p in cfg.compose_files] == ["compose.yaml", "external.yaml"]
    assert cfg.compose_env()["HARNESS_GATEWAY_ADDR"] == "192.168.100.77"
    monkeypatch.setenv("HARNESS_GATEWAY_AMI", "admin")
    with pytest.raises(ConfigError, match="not USER:SECRET"):
        TopologyConfig.from_env()


def test_every_fault_reloading_chan_sip_says_how_to_see_it_applied():
    # chan_sip's `module reload` returns before sip.conf is reloaded (its monitor thread
    # does it): a fault without a view to await would race the call placed after it
    from harness.gateway.profiles import EXTERNAL, profile, profile_names

    for name in profile_names():
        if name == EXTERNAL:
            continue
        for fault_name, fault in profile(name).faults.items():
            if "chan_sip.so" in fault.reload:
                assert fault.applied is not None, f"{name} {fault_name}"
                command, pattern = fault.applied
                assert command.startswith("sip show ") and pattern, f"{name} {fault_name}"
