"""Stand-ins for the ``wandb`` and ``mlflow`` modules (optional extras, not installed for the
tests): the calls curricle's sinks make, each recorded as made, and the runs they logged to,
kept as the trackers keep them (W&B: one value a step, a step below the last dropped; MLflow:
every value logged, by store)."""

from __future__ import annotations

import importlib.machinery
import os
import sys
import types
from types import SimpleNamespace


class WandbRun:
    def __init__(self, module: FakeWandb, run_id: str):
        self.module, self.id = module, run_id

    @property
    def step(self) -> int:
        """The step of the next ``log``: one past the last the run has."""
        return max(self.module.runs[self.id], default=-1) + 1

    def log(self, metrics, step):
        self.module.sent.append((self.id, step))
        if step >= self.step:  # W&B drops a step below its current one, with a warning
            self.module.runs[self.id][step] = dict(metrics)

    def finish(self):
        self.module.finished.append(self.id)


class FakeWandb(types.ModuleType):
    def __init__(self):
        super().__init__("wandb")
        self.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
        self.inits: list[dict] = []  # each init's arguments
        self.runs: dict[str, dict[int, dict]] = {}  # id -> {step: metrics}
        self.projects: dict[str, str] = {}
        self.sent: list[tuple[str, int]] = []  # every log call: (run id, step)
        self.finished: list[str] = []

    def init(self, **kwargs):
        self.inits.append(kwargs)
        if "id" in kwargs:
            assert kwargs["resume"] == "must"
            if self.projects.get(kwargs["id"]) != kwargs["project"]:
                raise RuntimeError(f"run {kwargs['id']} not found in project {kwargs['project']}")
            return WandbRun(self, kwargs["id"])
        run_id = f"wandb-{len(self.runs) + 1}"
        self.runs[run_id], self.projects[run_id] = {}, kwargs["project"]
        return WandbRun(self, run_id)


class FakeMlflow(types.ModuleType):
    def __init__(self):
        super().__init__("mlflow")
        self.__spec__ = importlib.machinery.ModuleSpec("mlflow", None)
        self.uri: str | None = None  # what set_tracking_uri (or MLFLOW_TRACKING_URI) set
        self.experiment: str | None = None
        self.started: list[dict] = []  # each start_run's arguments, and the tracking URI then
        self.stores: dict[str, dict[str, dict]] = {}  # uri -> run id -> {experiment, name, metrics}
        self.active: tuple[str, str] | None = None
        self.ended = 0

    def is_tracking_uri_set(self):
        return self.uri is not None

    def get_tracking_uri(self):
        return self.uri if self.uri is not None else "sqlite:///" + os.path.abspath("mlflow.db")  # MLflow 3's

    def set_tracking_uri(self, uri):
        self.uri = uri

    def set_experiment(self, name):
        self.experiment = name

    def start_run(self, **kwargs):
        self.started.append({**kwargs, "uri": self.uri})
        store = self.stores.setdefault(self.uri, {})
        run_id = kwargs.get("run_id")
        if run_id is None:
            run_id = f"mlflow-{sum(len(s) for s in self.stores.values()) + 1}"
            store[run_id] = {"experiment": self.experiment, "name": kwargs.get("run_name"), "metrics": []}
        elif run_id not in store:
            raise RuntimeError(f"Run '{run_id}' not found")
        self.active = (self.uri, run_id)
        latest = {}  # MLflow's latest value of each metric: the one at its highest step
        for key, value, step in sorted(store[run_id]["metrics"], key=lambda m: m[2]):
            latest[key] = value
        return SimpleNamespace(info=SimpleNamespace(run_id=run_id), data=SimpleNamespace(metrics=latest))

    def log_metrics(self, metrics, step):
        uri, run_id = self.active
        self.stores[uri][run_id]["metrics"] += [(k, v, step) for k, v in metrics.items()]

    def end_run(self):
        self.active = None
        self.ended += 1

    def steps(self, uri, run_id, key="loss") -> list[int]:
        """The steps ``key`` was logged at in the run, as many times as it was."""
        return [step for k, _, step in self.stores[uri][run_id]["metrics"] if k == key]

    def values(self, uri, run_id, key="loss") -> dict[int, float]:
        return {step: v for k, v, step in self.stores[uri][run_id]["metrics"] if k == key}


def install(monkeypatch) -> tuple[FakeWandb, FakeMlflow]:
    """Put fresh fakes in ``sys.modules`` for the test (what ``curricle.extras.require`` imports)."""
    wandb, mlflow = FakeWandb(), FakeMlflow()
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return wandb, mlflow
