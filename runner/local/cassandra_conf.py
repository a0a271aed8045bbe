"""What a local Cassandra node is started with: its JVM flags, cassandra.yaml and logback.xml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"

# conf/jvm-server.options and conf/jvm17-server.options of Cassandra 5.0 (the JPMS part is required
# on Java 17), minus -XX:+AlwaysPreTouch, which slows start-up by touching the whole heap.
JVM_OPTIONS = (
    "-Xms1g",
    "-Xmx1g",
    "-Xss256k",
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1HeapRegionSize=16m",
    "-XX:G1RSetUpdatingPauseTimePercent=5",
    "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
    "-XX:+UseThreadPriorities",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:+UseTLAB",
    "-XX:+ResizeTLAB",
    "-XX:+PerfDisableSharedMem",
    "-Djava.net.preferIPv4Stack=true",
    "-Dchronicle.analytics.disable=true",
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.management/com.sun.jmx.remote.security=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    # Dev-only start-up and write speed-ups; none of them is safe for a production node.
    "-Dcassandra-foreground=yes",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.skip_sync=true",
    # Not -Dcassandra.unsafesystem=true: it leaves schema changes unflushed, and a node killed
    # after a CREATE TABLE restarts without the table in its schema (its rows skipped by the
    # commit log replay, "table ... does not exist" until a clean restart).
)

LOGBACK_XML = """\
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""


@dataclass(frozen=True)
class NodeSettings:
    """Where a node listens and which ring it joins; the defaults make the single dev node.

    Args:
        host: listen and native-transport address (every 127.x address routes to `lo` on Linux).
        seeds: addresses of the ring's seed nodes (same storage port); empty: the node itself.
        cluster_name: a node joins only a ring of the same name.
        num_tokens: virtual nodes of this node.
        jvm_options: added after JVM_OPTIONS, where a later flag wins (e.g. `-Xmx512m`).
        yaml: more cassandra.yaml lines (e.g. `concurrent_compactors: 1`).
    """

    host: str = HOST
    seeds: tuple[str, ...] = ()
    cluster_name: str = "runner-dev"
    num_tokens: int = 1
    jvm_options: tuple[str, ...] = ()
    yaml: str = ""


def write_config(
    conf: Path, data: Path, port: int, storage_port: int, auth: bool, settings: NodeSettings
) -> None:
    """Write `conf`/cassandra.yaml (data folders under `data`) and `conf`/logback.xml."""
    host = settings.host
    seeds = ",".join(f"{seed}:{storage_port}" for seed in settings.seeds or (host,))
    authenticator = "PasswordAuthenticator" if auth else "AllowAllAuthenticator"
    authorizer = "CassandraAuthorizer" if auth else "AllowAllAuthorizer"
    yaml_text = f"""\
# Written by runner/local/cassandra_node.py on every start; edits are overwritten.
cluster_name: {settings.cluster_name}
num_tokens: {settings.num_tokens}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seeds}"
listen_address: {host}
rpc_address: {host}
storage_port: {storage_port}
native_transport_port: {port}
start_native_transport: true
auto_bootstrap: false
auto_snapshot: false
authenticator: {authenticator}
authorizer: {authorizer}
role_manager: CassandraRoleManager
memtable_allocation_type: heap_buffers
# A busy laptop stalls the node for seconds: wait longer before failing a write or a scan.
write_request_timeout: 10000ms
range_request_timeout: 30000ms
data_file_directories: ["{data / "data"}"]
commitlog_directory: "{data / "commitlog"}"
saved_caches_directory: "{data / "saved_caches"}"
hints_directory: "{data / "hints"}"
cdc_raw_directory: "{data / "cdc_raw"}"
{settings.yaml}"""
    (conf / "cassandra.yaml").write_text(yaml_text)
    (conf / "logback.xml").write_text(LOGBACK_XML)
