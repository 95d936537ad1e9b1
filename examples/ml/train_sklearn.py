"""The scikit-learn trial of the ml_train example: gradient-boosted trees on the same splits as the
TypeScript sweep, tracked the same way, so the two compare side by side (`sluice runs compare`).

Protocol of a Python task: the task's inputs arrive as JSON on stdin; the result is written as JSON to the
file named by $SLUICE_OUTPUT; printed lines go to the task's log. Exit code 99 skips the task (Sluice's
default skipOnExitCode): that is what happens where scikit-learn is not installed.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import sklearn
except ImportError:
    # Debian's python3-sklearn installs for the system interpreter; a python3 found first on PATH (pyenv, a
    # virtualenv) does not see it. Run this script with the system one when that one has it.
    system = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system) and os.path.exists(system):
        if subprocess.run([system, "-c", "import sklearn"], capture_output=True).returncode == 0:
            os.execv(system, [system, *sys.argv])  # stdin (the inputs) is still unread
    print("scikit-learn is not installed (Debian: apt-get install python3-sklearn): skipping this trial")
    sys.exit(99)

import pickle

from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score

import sluice_track as track

N_ESTIMATORS = 60
LEARNING_RATE = 0.1
MAX_DEPTH = 3


def main():
    data = json.load(sys.stdin)["data"]
    train, validation, test = data["train"], data["validation"], data["test"]
    params = {"model": "GradientBoostingClassifier", "nEstimators": N_ESTIMATORS, "learningRate": LEARNING_RATE, "maxDepth": MAX_DEPTH}
    track.params(params)
    track.tag("framework", f"scikit-learn {sklearn.__version__}")

    model = GradientBoostingClassifier(n_estimators=N_ESTIMATORS, learning_rate=LEARNING_RATE, max_depth=MAX_DEPTH, random_state=0)
    model.fit(train["x"], train["y"])
    # a learning curve: validation accuracy after each boosting stage
    for stage, predicted in enumerate(model.staged_predict(validation["x"])):
        track.metric("validation_accuracy_by_stage", accuracy_score(validation["y"], predicted), step=stage)

    validation_accuracy = accuracy_score(validation["y"], model.predict(validation["x"]))
    test_accuracy = accuracy_score(test["y"], model.predict(test["x"]))
    track.metrics({"validation_accuracy": validation_accuracy, "test_accuracy": test_accuracy})
    print(f"scikit-learn {sklearn.__version__} gradient boosting: validation {validation_accuracy:.3f}, test {test_accuracy:.3f}")

    # Sluice copies a tracked file when the task ends; the tracking file's folder is this attempt's own and is
    # removed after that copy
    folder = os.path.dirname(os.environ["SLUICE_TRACK_FILE"]) if os.environ.get("SLUICE_TRACK_FILE") else tempfile.mkdtemp()
    path = os.path.join(folder, "model.pkl")
    with open(path, "wb") as f:
        pickle.dump(model, f)
    track.artifact("model.pkl", path)

    with open(os.environ["SLUICE_OUTPUT"], "w") as f:
        json.dump({"model": "sklearn.GradientBoostingClassifier", "sklearnVersion": sklearn.__version__, "validationAccuracy": validation_accuracy, "testAccuracy": test_accuracy}, f)


if __name__ == "__main__":
    main()
