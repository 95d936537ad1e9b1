"""Sluice's runner for Python models (standard library only): `sluice models serve` starts it as

    python3 sluice_serve.py <script.py> <artifact-file>

It imports the script, calls its `load(path)` with the artifact's file, and answers requests read as JSON
lines on stdin, one per line:  {"id": 1, "rows": [...]}  ->  {"id": 1, "predictions": [...]}  or
{"id": 1, "error": "..."}. The first line it writes is {"ready": true} once the model is loaded, or
{"fatal": "..."} (then it exits 2). What the model prints goes to stderr (Sluice's log): stdout carries
the protocol only. It exits when stdin closes.

The model script:

    def load(path):
        model = ...            # read the file at `path`
        return model           # an object with predict(rows) -> list, one prediction per row

(`load` may also return a plain function of rows.)
"""
import importlib.util
import json
import os
import sys
import traceback


def main():
    out = sys.stdout
    # the model's own prints must not corrupt the protocol
    sys.stdout = sys.stderr
    script, artifact = sys.argv[1], sys.argv[2]

    def send(obj):
        out.write(json.dumps(obj, allow_nan=False) + "\n")
        out.flush()

    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        spec = importlib.util.spec_from_file_location("sluice_model", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "load", None)):
            raise RuntimeError(f"{script} defines no load(path) function")
        model = module.load(artifact)
        predict = model if callable(model) and not hasattr(model, "predict") else getattr(model, "predict", None)
        if not callable(predict):
            raise RuntimeError("load(path) must return an object with predict(rows) (or a function of rows)")
    except Exception as e:  # noqa: BLE001 - reported to Sluice, which names the model
        traceback.print_exc(file=sys.stderr)
        send({"fatal": f"{type(e).__name__}: {e}"})
        sys.exit(2)
    send({"ready": True})

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req_id = None
        try:
            req = json.loads(line)
            req_id = req["id"]
            predictions = predict(req["rows"])
            if hasattr(predictions, "tolist"):  # numpy arrays
                predictions = predictions.tolist()
            send({"id": req_id, "predictions": list(predictions)})
        except Exception as e:  # noqa: BLE001 - one request's failure, the process goes on
            send({"id": req_id, "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    main()
