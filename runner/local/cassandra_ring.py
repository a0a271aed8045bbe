"""A Cassandra ring on this machine: one node per loopback address, all on the same ports.

`runner up` starts it for a target whose `cassandra:` is `managed: true` with several `hosts`
(127.0.0.1, 127.0.0.2, 127.0.0.3: every 127.x address routes to `lo` on Linux). Each node is a
`runner.local.cassandra_node` in its own folder, `<project>/.runner/cluster/cassandra-<host>/`
(config, data, hints, logs, PID file). The first host is the seed; the others join it. They
share the cluster name `runner-cluster`, SimpleSnitch (datacenter `datacenter1`, rack `rack1`:
the name a NetworkTopologyStrategy keyspace must use) and the storage port (`port - 2000`, 7000
for 9042).

Every node gets its 16 tokens (Cassandra 5's default count) up front, interleaved over the
whole ring (`initial_tokens`): the joining nodes can start together without picking the same
tokens, which two nodes that allocate tokens at the same moment do.

Sized for a shared machine of 2 cores: a heap of 256-512 MB per node instead of 1 GB, one
compaction thread, 8 read and 8 write threads instead of 32, and a small native-transport pool.
"""

from __future__ import annotations

import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.cassandra.client import open_session
from runner.errors import ConfigError, ServiceError
from runner.local import cassandra_node
from runner.paths import state_dir

if TYPE_CHECKING:
    from runner.config import CassandraTarget

CLUSTER_NAME = "runner-cluster"
DATACENTER = "datacenter1"  # what SimpleSnitch reports
JVM_OPTIONS = ("-Xms256m", "-Xmx512m", "-XX:ParallelGCThreads=1", "-XX:ConcGCThreads=1")
NUM_TOKENS = 16
YAML = """\
concurrent_compactors: 1
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 4
concurrent_materialized_view_writes: 4
native_transport_max_threads: 32
"""


@dataclass(frozen=True)
class RingNode:
    """One node of the ring as `status` found it."""

    host: str
    state: cassandra_node.NodeState


def ring_hosts(target: CassandraTarget) -> list[str]:
    """The target's hosts, which for a managed ring must be distinct 127.x addresses.

    Example:
        >>> from runner.config import CassandraTarget
        >>> ring_hosts(CassandraTarget(hosts=["127.0.0.1", "127.0.0.2"], managed=True))
        ['127.0.0.1', '127.0.0.2']
    """
    for host in target.hosts:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(
                f"a managed Cassandra ring runs on loopback addresses only, not '{host}'",
                hint="use cassandra.hosts: [127.0.0.1, 127.0.0.2, 127.0.0.3], or managed: false "
                "for an existing cluster",
            )
    if len(set(target.hosts)) != len(target.hosts):
        raise ConfigError(
            f"cassandra.hosts names an address twice: {', '.join(target.hosts)}",
            hint="one node per address: 127.0.0.1, 127.0.0.2, 127.0.0.3",
        )
    return list(target.hosts)


def node_dir(project_dir: Path, host: str) -> Path:
    """The folder of the ring's node on `host`."""
    return state_dir(project_dir, "cluster") / f"cassandra-{host}"


def storage_port(port: int) -> int:
    """The inter-node port that goes with native port `port`, as for the dev node.

    Example:
        >>> storage_port(9042), storage_port(9342)
        (7000, 7342)
    """
    return 7000 if port == 9042 else port - 2000


def initial_tokens(index: int, nodes: int, per_node: int = NUM_TOKENS) -> list[int]:
    """Node `index`'s tokens: `nodes * per_node` evenly spaced Murmur3 tokens, dealt in turn.

    Example:
        >>> initial_tokens(0, 2, 2), initial_tokens(1, 2, 2)
        ([-9223372036854775808, 0], [-4611686018427387904, 4611686018427387904])
    """
    total = nodes * per_node
    step = 2**64 // total
    return [-(2**63) + (index + nodes * k) * step for k in range(per_node)]


def ensure_running(
    project_dir: Path, target: CassandraTarget, *, timeout: float = 240
) -> list[cassandra_node.RunningNode]:
    """Start the nodes of `target.hosts` that do not run: the seed first, then the others.

    The others start together (`auto_bootstrap` is off: a new ring has nothing to stream). Ready
    means every node answers CQL and the driver sees every node up.

    Raises:
        ConfigError: a host is not a loopback address, or the target has a login (a managed
            ring runs without authentication).
        ServiceError: a node did not start (its log's last error), or the nodes did not see
            each other in time.
    """
    hosts = ring_hosts(target)
    if target.credentials()[0]:
        raise ConfigError(
            "a managed Cassandra ring runs without authentication, but the target has a login",
            hint="remove cassandra.username/password (and $RUNNER_CASSANDRA_USERNAME) for the "
            "local ring",
        )
    seed, others = hosts[0], hosts[1:]
    nodes = [_ensure_node(project_dir, target, seed, seed, timeout)]
    with ThreadPoolExecutor(max_workers=max(1, len(others))) as pool:
        futures = [
            pool.submit(_ensure_node, project_dir, target, host, seed, timeout)
            for host in others
        ]
        nodes += [f.result() for f in futures]
    wait_all_up(target, timeout=timeout)
    return nodes


def _ensure_node(
    project_dir: Path, target: CassandraTarget, host: str, seed: str, timeout: float
) -> cassandra_node.RunningNode:
    folder = node_dir(project_dir, host)
    tokens = initial_tokens(target.hosts.index(host), len(target.hosts))
    state = cassandra_node.status(folder)
    if state.running and state.pid is not None:
        if state.address != f"{host}:{target.port}":
            raise ServiceError(
                f"the ring's node in {folder} runs on {state.address}, but the target wants "
                f"{host}:{target.port}",
                hint="stop it (`runner down`) so it restarts with the target's settings",
            )
        return cassandra_node.RunningNode(
            host, target.port, state.pid, state.version or "?", 0.0, started=False
        )
    settings = cassandra_node.NodeSettings(
        host=host,
        seeds=(seed,),
        cluster_name=CLUSTER_NAME,
        num_tokens=NUM_TOKENS,
        jvm_options=JVM_OPTIONS,
        yaml=f'{YAML}initial_token: "{",".join(map(str, tokens))}"\n',
    )
    return cassandra_node.start(
        folder, target.port, storage_port(target.port), timeout=timeout,
        project_dir=project_dir, settings=settings,
    )


def wait_all_up(target: CassandraTarget, *, timeout: float) -> None:
    """Wait until the driver sees every host of `target` up (gossip has settled)."""
    session = open_session(target.hosts, target.port, None, target.connect_timeout)
    try:
        deadline = time.monotonic() + timeout
        while True:
            up = sorted(h.address for h in session.cluster.metadata.all_hosts() if h.is_up)
            if set(target.hosts) <= set(up):
                return
            if time.monotonic() > deadline:
                missing = sorted(set(target.hosts) - set(up))
                raise ServiceError(
                    f"the Cassandra ring did not come together within {timeout:.0f} s: "
                    f"{', '.join(missing)} not up (up: {', '.join(up) or 'none'})",
                    hint="read logs/system.log in .runner/cluster/cassandra-<host>/",
                )
            time.sleep(1)
    finally:
        session.cluster.shutdown()


def stop(project_dir: Path, timeout: float = 60) -> list[str]:
    """Stop every node of the project's ring by its PID file; the hosts that ran."""
    hosts = _hosts(project_dir)
    return [host for host in hosts if cassandra_node.stop(node_dir(project_dir, host), timeout)]


def status(project_dir: Path) -> list[RingNode]:
    """Every node folder of the project's ring, running or not."""
    return [
        RingNode(host, cassandra_node.status(node_dir(project_dir, host)))
        for host in _hosts(project_dir)
    ]


def _hosts(project_dir: Path) -> list[str]:
    """The hosts that have a node folder, in address order."""
    root = state_dir(project_dir, "cluster")
    names = [p.name.removeprefix("cassandra-") for p in root.glob("cassandra-*") if p.is_dir()]
    hosts = []
    for name in names:
        try:
            hosts.append(ipaddress.ip_address(name))
        except ValueError:
            continue
    return [str(h) for h in sorted(hosts)]
