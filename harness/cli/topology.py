"""`harness topology up|down|status|logs SERVICE`: the compose topology by hand."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "topology",
        help="bring the Asterisk/Mediation/softphone topology up or down, show its state",
        description="Drive the compose topology (containers/compose.yaml). Settings come from "
        "HARNESS_NET_PREFIX (default 192.168.100), HARNESS_MEDIATION_PORT (18068), "
        "HARNESS_CAPTURE_PORT (18090), HARNESS_PROJECT (sipharness), HARNESS_GATEWAY (a profile "
        "or external), HARNESS_GATEWAY_CONFIG, HARNESS_GATEWAY_ADDRESS, HARNESS_GATEWAY_AMI. "
        "`down` also takes down the topologies of pytest -n N's workers (<project>-gwK) "
        "that --keep-topology left.",
    )
    parser.add_argument("action", choices=["up", "down", "status", "logs"])
    parser.add_argument(
        "service", nargs="?", help="for logs: mediation, asterisk, capture, softphone"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.topology.compose import TopologyError
    from harness.topology.config import ConfigError, TopologyConfig
    from harness.topology.topology import Topology

    try:
        topo = Topology.create(TopologyConfig.from_env())
        if args.action == "up":
            print("bringing the topology up (images must exist: `make setup`) ...", flush=True)
            topo.ensure_up()
            print("; ".join(topo.notes))
            for role in ("asterisk", "mediation", "softphone"):
                print(f"  {role:10} {topo.config.address(role)}")
            print(f"  mediation control http://127.0.0.1:{topo.config.mediation_port}")
            print(f"  capture agent     http://127.0.0.1:{topo.config.capture_port}")
        elif args.action == "down":
            topo.down()
            print("topology down")
            # and the workers' topologies a `pytest -n N --keep-topology` left
            for project in topo.engine.worker_projects(topo.config.project):
                Topology.create(replace(topo.config, project=project)).down()
                print(f"topology {project} down")
        elif args.action == "status":
            states = topo.compose.states()
            for service in topo.compose.services:
                print(f"  {service:10} {states.get(service, 'not running')}")
            return 0 if all(states.get(s) == "running" for s in topo.compose.services) else 1
        else:
            if args.service not in topo.compose.services:
                names = ", ".join(topo.compose.services)
                print(f"harness topology logs: name a service: {names}", file=sys.stderr)
                return 2
            print(topo.compose.logs(args.service), end="")
    except (TopologyError, ConfigError) as exc:
        print(f"harness topology {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0
