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
