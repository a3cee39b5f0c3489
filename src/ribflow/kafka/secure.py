"""The managed broker's SASL_SSL listener: a local CA and broker certificate, SCRAM users.

The certificates are made with ``openssl`` in ``<data dir>/tls``: a CA (``ca.pem``, what clients
trust through ``KAFKA_SSL_CA_LOCATION``) and a broker certificate for 127.0.0.1 and localhost
(plus the listener host). SCRAM users are written into the cluster metadata when the storage is
formatted (Kafka's ``StorageTool format --add-scram``), as salted passwords computed here, so no
password appears in a command line. The same users can also log in with PLAIN (their passwords
are then in the data directory's server.properties, readable by its owner only): librdkafka
before 2.6.1 (e.g. Debian's kcat) cannot do SCRAM with Kafka 4 (librdkafka#4895).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

from ribflow.errors import EnvironmentProblem

MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")  # PLAIN is enabled too (see the docstring)
ITERATIONS = 8192
_HASH = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if not exe:
        raise EnvironmentProblem("openssl not found: it makes the broker's TLS certificate "
                                 "(apt-get install openssl)")  # fmt: skip
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip().splitlines()
        raise EnvironmentProblem(f"openssl {args[0]} failed: {why[-1] if why else proc.returncode}")


def make_certificates(tls_dir: Path, host: str) -> tuple[Path, Path]:
    """CA and broker certificate in ``tls_dir`` (kept when present); returns (ca.pem, broker.pem).

    ``broker.pem`` holds the broker's PKCS#8 key and certificate (Kafka's PEM key store)."""
    ca, keystore = tls_dir / "ca.pem", tls_dir / "broker.pem"
    if ca.exists() and keystore.exists():
        return ca, keystore
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    names = {"DNS:localhost", "IP:127.0.0.1"}
    try:
        names.add(f"IP:{ipaddress.ip_address(host)}")
    except ValueError:
        names.add(f"DNS:{host}")
    (tls_dir / "san.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=" + ",".join(sorted(names)) + "\n"
    )
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=ribflow local Kafka CA", "-keyout", "ca.key", "-out", "ca.pem",
             cwd=tls_dir)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
             "-keyout", "broker.key", "-out", "broker.csr", cwd=tls_dir)  # fmt: skip
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "3650", "-extfile", "san.ext", "-out", "broker.crt",
             cwd=tls_dir)  # fmt: skip
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.p8",
             cwd=tls_dir)  # fmt: skip
    keystore.write_text((tls_dir / "broker.p8").read_text() + (tls_dir / "broker.crt").read_text())
    for name in ("ca.key", "broker.key", "broker.p8", "broker.pem"):
        os.chmod(tls_dir / name, 0o600)
    return ca, keystore


def listener_properties(keystore: Path, users: dict[str, str]) -> dict[str, str]:
    """server.properties entries of the SASL_SSL listener (merged into the PLAINTEXT ones)."""
    jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule required" + "".join(
        f' user_{name}="{_jaas_quoted(password)}"' for name, password in sorted(users.items())
    )
    props = {
        "sasl.enabled.mechanisms": ",".join((*MECHANISMS, "PLAIN")),
        "listener.name.sasl_ssl.plain.sasl.jaas.config": plain + ";",
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(keystore),
        "listener.name.sasl_ssl.ssl.client.auth": "none",
    }
    for mech in MECHANISMS:
        props[f"listener.name.sasl_ssl.{mech.lower()}.sasl.jaas.config"] = jaas
    return props


def _jaas_quoted(text: str) -> str:
    if any(c in text for c in '"\\\n'):
        raise ValueError(
            "a SASL password of the managed broker may not hold quotes, backslashes "
            "or newlines (they would need escaping twice in server.properties)"
        )
    return text


def scram_credential(mechanism: str, name: str, password: str, salt: bytes | None = None) -> str:
    """A StorageTool ``--add-scram`` value with the salted password (RFC 5802's Hi())."""
    if any(c in name for c in ',=[]"') or not name:
        raise ValueError(f"SCRAM user name {name!r} has a character Kafka's tool cannot take")
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac(_HASH[mechanism], password.encode(), salt, ITERATIONS)
    b64 = base64.b64encode
    return (f"{mechanism}=[name={name},iterations={ITERATIONS},"
            f'salt="{b64(salt).decode()}",saltedpassword="{b64(salted).decode()}"]')  # fmt: skip


def scram_arguments(users: dict[str, str]) -> list[str]:
    """``--add-scram`` arguments for every user and mechanism."""
    out: list[str] = []
    for name, password in sorted(users.items()):
        for mech in MECHANISMS:
            out += ["--add-scram", scram_credential(mech, name, password)]
    return out
