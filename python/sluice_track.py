"""Experiment tracking for Python tasks run by Sluice (standard library only).

    import sluice_track as track

    track.param("depth", 4)
    for epoch in range(10):
        track.metric("loss", loss, step=epoch)
    track.metric("accuracy", 0.93)
    track.tag("framework", "sklearn")
    track.artifact("model.pkl", "out/model.pkl")   # a file the task wrote
    track.register_model("spam", "out/model.pkl", flavor="./spam_model.py", metrics={"accuracy": 0.93})

Sluice puts this module on PYTHONPATH and names a per-attempt file in SLUICE_TRACK_FILE; each call appends
one JSON line to it, which the worker reads when the task ends (so what was recorded before a crash is
kept). Outside Sluice (no SLUICE_TRACK_FILE) the calls do nothing but warn once.
"""
import json
import math
import os
import sys

__all__ = ["param", "params", "metric", "metrics", "tag", "artifact", "register_model"]

_warned = False
_last_step = {}


def _emit(record):
    global _warned
    path = os.environ.get("SLUICE_TRACK_FILE")
    if not path:
        if not _warned:
            print("sluice_track: SLUICE_TRACK_FILE is not set (not run by Sluice); nothing is recorded", file=sys.stderr)
            _warned = True
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, allow_nan=False) + "\n")


def param(name, value):
    """A param of this trial: any JSON value."""
    json.dumps(value, allow_nan=False)  # refuse what Sluice could not store, here where it was made
    _emit({"type": "param", "name": str(name), "value": value})


def params(values):
    for name, value in values.items():
        param(name, value)


def metric(name, value, step=None):
    """A scalar; `step` orders a series (default: one more than its last step)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'metric "{name}" must be a finite number, got {value!r}')
    if step is None:
        step = _last_step[name] + 1 if name in _last_step else 0
    if not isinstance(step, int) or step < 0:
        raise ValueError(f'metric "{name}": step must be a whole number >= 0, got {step!r}')
    _last_step[name] = max(step, _last_step.get(name, step))
    _emit({"type": "metric", "name": str(name), "value": float(value), "step": step})


def metrics(values, step=None):
    for name, value in values.items():
        metric(name, value, step)


def tag(name, value):
    _emit({"type": "tag", "name": str(name), "value": str(value)})


def artifact(name, path, media_type=None):
    """A file the task wrote: Sluice stores a copy when the task ends."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'artifact "{name}": no file at {path}')
    record = {"type": "artifact", "name": str(name), "path": path}
    if media_type:
        record["mediaType"] = media_type
    _emit(record)


def register_model(name, artifact, flavor, metrics=None, params=None, signature=None, framework=None, description=None):
    """Register a model version (ctx.models.register in TypeScript), done by Sluice when the task succeeds.

    `artifact`: a file the task wrote. `flavor`: the code that loads it for serving, relative to the DAG
    file: "./model.py" (a script defining load(path)) or {"python": "./model.py"} / {"module": "./model.ts"}.
    `metrics`: name -> finite number (a promotion gate compares these). `signature`: a JSON Schema of one
    request row (an object). The version number is given out by Sluice; a gate whose candidate is this
    task finds the version it registered.
    """
    path = os.path.abspath(artifact)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'model "{name}": artifact file {artifact} does not exist')
    if isinstance(flavor, str):
        flavor = {"python": flavor} if flavor.endswith(".py") else {"module": flavor}
    for key, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f'model "{name}": metric "{key}" must be a finite number, got {value!r}')
    record = {"type": "model", "name": str(name), "path": path, "flavor": flavor, "metrics": {k: float(v) for k, v in (metrics or {}).items()}}
    for key, value in (("params", params), ("signature", signature), ("framework", framework), ("description", description)):
        if value is not None:
            record[key] = value
    _emit(record)
