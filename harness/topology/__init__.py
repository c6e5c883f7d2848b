"""Topology I/O: the compose lifecycle, the Docker engine, the capture agent and SIPp runs."""
