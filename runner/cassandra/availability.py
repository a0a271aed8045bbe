"""Whether a Cassandra cluster can take the marts' writes at the target's consistency level.

Checked once before a build writes anything: with too few replicas up, every write would fail
after Spark computed the models, one task retry at a time. The check counts the nodes the
driver sees up in the datacenter the consistency level is about; it raises only when too few
are up there for any key, so it never refuses a write Cassandra could take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.cassandra.client import connect, consistency, driver_errors
from runner.errors import ServiceError

if TYPE_CHECKING:
    from cassandra.cluster import Session

    from runner.config import CassandraTarget

FIXED = {"ANY": 1, "ONE": 1, "LOCAL_ONE": 1, "TWO": 2, "THREE": 3}


@dataclass(frozen=True)
class Replicas:
    """How many replicas a write at `level` needs, and where they are counted.

    Args:
        level: the consistency level.
        needed: replicas that must answer.
        factor: replicas of each key in `datacenter` (all datacenters when None).
        datacenter: where `needed` is counted; None: the whole cluster.
    """

    level: str
    needed: int
    factor: int
    datacenter: str | None


def replicas_needed(level: str, replication: dict[str, Any], local_dc: str | None) -> Replicas:
    """The replicas a write at `level` needs with keyspace `replication` (as in CREATE KEYSPACE).

    Example:
        >>> nts = {"class": "NetworkTopologyStrategy", "datacenter1": "3"}
        >>> replicas_needed("LOCAL_QUORUM", nts, "datacenter1")
        Replicas(level='LOCAL_QUORUM', needed=2, factor=3, datacenter='datacenter1')
        >>> replicas_needed("ALL", {"class": "SimpleStrategy", "replication_factor": 1}, None)
        Replicas(level='ALL', needed=1, factor=1, datacenter=None)
    """
    factors = {k: int(v) for k, v in replication.items() if k != "class" and str(v).isdigit()}
    simple = "replication_factor" in factors
    local = level.startswith("LOCAL_") or level == "EACH_QUORUM"
    dc = None if simple or not local else (local_dc or next(iter(factors), None))
    factor = factors.get("replication_factor", 0) if simple else (
        factors.get(dc, 0) if dc is not None else sum(factors.values()))
    needed = FIXED.get(level) or (factor if level == "ALL" else factor // 2 + 1)
    return Replicas(level, needed, factor, dc)


def check_writable(target: CassandraTarget) -> None:
    """Raise ServiceError when too few nodes are up for writes at the target's consistency.

    The error names the level, the replicas it needs, the nodes that are up and those down.
    """
    session = connect(target)
    try:
        replication = _replication(session, target)
        hosts = list(session.cluster.metadata.all_hosts())
    finally:
        session.cluster.shutdown()
    level = consistency(target)
    dcs = {h.datacenter for h in hosts if h.datacenter}
    local_dc = target.local_dc or (next(iter(dcs)) if len(dcs) == 1 else None)
    need = replicas_needed(level, replication, local_dc)
    named = set(replication) - {"class", "replication_factor"}
    if named and dcs and not named & dcs:
        raise ServiceError(
            f"keyspace {target.keyspace} keeps its replicas in datacenter "
            f"{', '.join(sorted(named))}, but the Cassandra nodes are in {', '.join(sorted(dcs))}",
            hint="name the nodes' datacenter in cassandra.replication (profiles.yml); an "
            "existing keyspace keeps its replication until ALTER KEYSPACE",
        )
    there = [h for h in hosts if need.datacenter in (None, h.datacenter)]
    # is_up is None for a host the driver never tried (another datacenter): not known down.
    up = sorted(_address(h, target.port) for h in there if h.is_up is not False)
    down = sorted(_address(h, target.port) for h in there if h.is_up is False)
    if len(up) >= need.needed:
        return
    where = f" in {need.datacenter}" if need.datacenter else ""
    raise ServiceError(
        f"Cassandra cannot take writes at consistency {level}: {need.needed} of the "
        f"{need.factor} replicas{where} must answer, and only {len(up)} node(s) are up: "
        f"{', '.join(up) or 'none'} (down: {', '.join(down) or 'none'})",
        hint="bring the nodes back (`runner up -t <target>` restarts a local ring), then "
        "`runner retry`; or lower cassandra.consistency in profiles.yml",
    )


def _replication(session: Session, target: CassandraTarget) -> dict[str, Any]:
    """The keyspace's replication as Cassandra has it, else the profile's (it is created so)."""
    with driver_errors(f"reading the replication of keyspace {target.keyspace}"):
        row = session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (target.keyspace,),
        ).one()
    if row is None:
        return dict(target.replication)
    return {k: v.rsplit(".", 1)[-1] if k == "class" else v for k, v in row.replication.items()}


def _address(host: Any, port: int) -> str:
    return f"{host.address}:{port}"
