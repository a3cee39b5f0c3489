"""A managed single-node Apache Kafka (KRaft) for machines without Docker.

The broker's jars come from Maven Central through ``mvn dependency:copy-dependencies`` on the small
pom in ``broker/`` and are cached outside the repository (``RIBFLOW_CACHE`` or ~/.cache/ribflow).
The storage is formatted once per data directory, and the broker runs with the machine's Java as a
detached process whose pid is recorded in the data directory.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ribflow.errors import EnvironmentProblem
from ribflow.kafka import secure

if TYPE_CHECKING:
    from ribflow.kafka.client import KafkaTarget

KAFKA_VERSION = "4.1.1"
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    env = os.environ.get("RIBFLOW_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return (base if env else base / "ribflow") / f"kafka-{KAFKA_VERSION}"


def default_data_dir() -> Path:
    env = os.environ.get("RIBFLOW_HOME")
    base = Path(env) if env else Path.home() / ".local" / "state" / "ribflow"
    return base / "kafka"


@dataclass
class BrokerConfig:
    """Where and how the managed broker runs."""

    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 0  # 0: port + 1
    data_dir: Path = field(default_factory=default_data_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    heap: str = "768m"
    maven_settings: Path | None = None  # an alternative settings.xml (mirrors, proxies)
    start_timeout: float = 90.0
    extra: dict[str, str] = field(default_factory=dict)
    sasl_ssl_port: int = 0  # 0: no SASL_SSL listener (see ribflow.kafka.secure)
    # SASL users (name -> password): SCRAM ones added when the storage is formatted, PLAIN ones
    sasl_users: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.controller_port:
            self.controller_port = self.port + 1
        self.data_dir = Path(self.data_dir)
        self.cache_dir = Path(self.cache_dir)
        env_settings = os.environ.get("RIBFLOW_MAVEN_SETTINGS")
        if self.maven_settings is None and env_settings:
            self.maven_settings = Path(env_settings)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def secure_address(self) -> str:
        return f"{self.host}:{self.sasl_ssl_port}" if self.sasl_ssl_port else ""

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients of the SASL_SSL listener trust (KAFKA_SSL_CA_LOCATION)."""
        return self.tls_dir / "ca.pem"


def server_properties(cfg: BrokerConfig) -> str:
    """The broker's server.properties: one node that is both broker and controller."""
    plain = f"PLAINTEXT://{cfg.host}:{cfg.port}"
    sasl = f",SASL_SSL://{cfg.secure_address}" if cfg.sasl_ssl_port else ""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{cfg.host}:{cfg.controller_port}",
        "listeners": f"{plain}{sasl},CONTROLLER://{cfg.host}:{cfg.controller_port}",
        "advertised.listeners": f"{plain}{sasl}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        + (",SASL_SSL:SASL_SSL" if cfg.sasl_ssl_port else ""),
        "log.dirs": str(cfg.data_dir / "data"),
        "num.partitions": "4",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.cleaner.backoff.ms": "1000",
        "log.retention.hours": "168",
    }
    if cfg.sasl_ssl_port:
        props.update(secure.listener_properties(cfg.tls_dir / "broker.pem", cfg.sasl_users))
    props.update(cfg.extra)
    return "".join(f"{k}={v}\n" for k, v in props.items())


class LocalKafka:
    """Start, stop and probe one managed broker (state lives in ``cfg.data_dir``)."""

    def __init__(self, cfg: BrokerConfig | None = None) -> None:
        self.cfg = cfg or BrokerConfig()

    # -- files ---------------------------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.cfg.data_dir / "broker.pid"

    @property
    def info_file(self) -> Path:
        return self.cfg.data_dir / "broker.json"

    @property
    def libs_dir(self) -> Path:
        return self.cfg.cache_dir / "libs"

    @property
    def log_file(self) -> Path:
        return self.cfg.data_dir / "logs" / "server.log"

    # -- prerequisites -------------------------------------------------------------------------
    @staticmethod
    def java() -> str:
        home = os.environ.get("JAVA_HOME")
        if home and (Path(home) / "bin" / "java").exists():
            return str(Path(home) / "bin" / "java")
        found = shutil.which("java")
        if not found:
            raise EnvironmentProblem(
                "java not found: Kafka needs a Java 17+ runtime "
                "(apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
            )
        return found

    def resolve_jars(self) -> Path:
        """The cached class path directory, resolving it from Maven Central the first time."""
        done = self.cfg.cache_dir / ".complete"
        if done.exists() and any(self.libs_dir.glob("kafka_2.13-*.jar")):
            return self.libs_dir
        mvn = shutil.which("mvn")
        if not mvn:
            raise EnvironmentProblem(
                "mvn not found: the broker's jars are resolved from Maven Central with Maven "
                "(apt-get install maven)"
            )
        self.cfg.cache_dir.mkdir(parents=True, exist_ok=True)
        pom = self.cfg.cache_dir / "pom.xml"
        pom.write_bytes(resources.files("ribflow.kafka").joinpath("broker/pom.xml").read_bytes())
        staging = self.cfg.cache_dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies"]
        cmd.append(f"-DoutputDirectory={staging}")
        if self.cfg.maven_settings:
            cmd += ["-s", str(self.cfg.maven_settings)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
            why = lines[0].strip() if lines else f"mvn exited with {proc.returncode}"
            raise EnvironmentProblem(
                f"could not resolve Kafka {KAFKA_VERSION} from Maven Central: {why[:300]}"
            )
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        staging.rename(self.libs_dir)
        done.write_text(KAFKA_VERSION + "\n")
        return self.libs_dir

    # -- state ---------------------------------------------------------------------------------
    def running_pid(self) -> int | None:
        """Pid of the broker this data dir started, if that process is still alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        try:  # a recycled pid is not our broker
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return pid
        if b"kafka.Kafka" not in cmdline or str(self.cfg.data_dir).encode() not in cmdline:
            return None
        # a zombie (exited, not yet reaped by its parent) is not running
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return pid
        return None if state == "Z" else pid

    def answers(self, timeout: float = 3.0) -> bool:
        """Whether the PLAINTEXT listener answers (whatever the KAFKA_* settings say)."""
        from ribflow.kafka.client import plaintext

        return broker_answers(plaintext(self.cfg.address), timeout)

    # -- actions -------------------------------------------------------------------------------
    def _check_port_free(self, port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # like the broker's own listener: TIME_WAIT leftovers of a previous run do not count,
            # a socket that listens there does
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.cfg.host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise EnvironmentProblem(
                        f"port {self.cfg.host}:{port} is already in use by another process "
                        f"(choose another with --port / --controller-port)"
                    ) from None
                raise EnvironmentProblem(f"cannot bind {self.cfg.host}:{port}: {exc}") from None

    def _format(self, java: str, libs: Path, props: Path) -> None:
        if (self.cfg.data_dir / "data" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = [java, "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format"]
        # "=" form: a random id may start with "-", which argparse would take for an option
        cmd += [f"--cluster-id={cluster_id}", "-c", str(props), "--ignore-formatted"]
        cmd += secure.scram_arguments(self.cfg.sasl_users)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            msg = (proc.stderr or proc.stdout).strip().splitlines()
            raise EnvironmentProblem(f"formatting Kafka storage failed: {msg[-1] if msg else ''}")

    def up(self) -> tuple[int, bool]:
        """Start the broker and wait until it answers; returns (pid, started_now)."""
        pid = self.running_pid()
        if pid:
            return pid, False
        java = self.java()
        self._check_port_free(self.cfg.port)
        self._check_port_free(self.cfg.controller_port)
        if self.cfg.sasl_ssl_port:
            self._check_port_free(self.cfg.sasl_ssl_port)
        libs = self.resolve_jars()
        d = self.cfg.data_dir
        (d / "logs").mkdir(parents=True, exist_ok=True)
        if self.cfg.sasl_ssl_port:
            secure.make_certificates(self.cfg.tls_dir, self.cfg.host)
        props = d / "server.properties"
        props.touch(mode=0o600)  # it holds the PLAIN users' passwords
        props.chmod(0o600)
        props.write_text(server_properties(self.cfg))
        log4j = d / "log4j2.properties"
        log4j.write_bytes(
            resources.files("ribflow.kafka").joinpath("broker/log4j2.properties").read_bytes()
        )
        self._format(java, libs, props)
        cmd = [
            java,
            f"-Xmx{self.cfg.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={d / 'logs'}",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(props),
        ]
        with open(d / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=d,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        self.info_file.write_text(
            json.dumps(
                {
                    "pid": proc.pid,
                    "address": self.cfg.address,
                    "version": KAFKA_VERSION,
                    "sasl_ssl": self.cfg.secure_address,
                }
            )
        )
        deadline = time.monotonic() + self.cfg.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise EnvironmentProblem(
                    f"Kafka exited with code {proc.returncode} while starting: "
                    f"{self._last_error() or 'see ' + str(d / 'logs')}"
                )
            if self.answers(timeout=2.0):
                return proc.pid, True
            time.sleep(0.5)
        self.down()
        raise EnvironmentProblem(
            f"Kafka did not answer on {self.cfg.address} within {self.cfg.start_timeout:.0f}s"
        )

    def _last_error(self) -> str:
        for name in ("stdout.log", "server.log"):
            path = self.cfg.data_dir / "logs" / name
            with contextlib.suppress(OSError):
                lines = [
                    ln
                    for ln in path.read_text(errors="replace").splitlines()
                    if "ERROR" in ln or "Exception" in ln
                ]
                if lines:
                    return lines[-1].strip()[:300]
        return ""

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL); returns whether one was running."""
        pid = self.running_pid()
        if not pid:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return not _alive(pid)


def broker_answers(address: KafkaTarget, timeout: float = 3.0) -> bool:
    """True when a Kafka broker at ``address`` returns cluster metadata."""
    from confluent_kafka.admin import AdminClient

    from ribflow.kafka.client import client_config

    quiet = logging.getLogger("ribflow.kafka.probe")
    quiet.setLevel(logging.CRITICAL)
    quiet.propagate = False
    admin = AdminClient(
        client_config(address, {"socket.connection.setup.timeout.ms": int(timeout * 1000)}),
        logger=quiet,
    )
    try:
        md = admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return bool(md.brokers)
