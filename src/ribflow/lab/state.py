"""The lab's state file (lab.json in the lab directory): settings, Kafka, processes and pids.

`lab up` writes it after every process it starts, so `lab down` can stop a lab whose start
failed half way; `status`, `tail` and `down` read the settings from it (the addresses the lab
was started with), so they need only the lab directory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ribflow.kafka.settings import ENV, SECRET_FIELDS, secrets_from_env
from ribflow.lab.procs import ProcRecord
from ribflow.lab.settings import LabSettings

STATE_NAME = "lab.json"


@dataclass
class KafkaState:
    address: str
    started_by_lab: bool = False
    data_dir: str = ""
    pid: int = 0


@dataclass
class LabState:
    settings: dict[str, Any]
    kafka: KafkaState
    processes: list[ProcRecord] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    table: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def path_in(cls, lab_dir: Path) -> Path:
        return lab_dir / STATE_NAME

    @classmethod
    def load(cls, lab_dir: Path) -> LabState | None:
        try:
            data = json.loads(cls.path_in(lab_dir).read_text())
        except (OSError, ValueError):
            return None
        return cls(
            settings=data["settings"],
            kafka=KafkaState(**data["kafka"]),
            processes=[ProcRecord.from_json(p) for p in data.get("processes", [])],
            started=data.get("started", 0.0),
            table=data.get("table", {}),
        )

    def save(self, lab_dir: Path) -> None:
        lab_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "settings": self.settings,
            "kafka": self.kafka.__dict__,
            "processes": [p.to_json() for p in self.processes],
            "started": self.started,
            "table": self.table,
        }
        tmp = self.path_in(lab_dir).with_suffix(".partial")
        tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
        tmp.replace(self.path_in(lab_dir))

    def lab_settings(self) -> LabSettings:
        """The settings the lab was started with (env and options of that `lab up`)."""
        # the snapshot holds no secret: those come from this process's environment
        return LabSettings.model_validate({**self.settings, **secrets_from_env()})

    def record(self, name: str) -> ProcRecord | None:
        return next((p for p in self.processes if p.name == name), None)

    def replace(self, rec: ProcRecord) -> None:
        self.processes = [p for p in self.processes if p.name != rec.name] + [rec]


def settings_snapshot(s: LabSettings) -> dict[str, Any]:
    """Settings as their env names -> values, so :meth:`LabState.lab_settings` rebuilds them."""
    secret = {ENV[name] for name in SECRET_FIELDS}
    return {k: v for k, v in s.model_dump(mode="json", by_alias=True).items() if k not in secret}
