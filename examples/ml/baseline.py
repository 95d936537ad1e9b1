"""Gaussian naive Bayes baseline for the ml_train example, in the Python standard library only.

Protocol of a Python task: the task's inputs arrive as JSON on stdin (and in the file named by
$SLUICE_INPUTS); the result is written as JSON to the file named by $SLUICE_OUTPUT. Anything printed
goes to the task's log.
"""
import json
import math
import os
import sys


def fit(x, y, n_classes):
    """Per class: prior, and mean and variance of each feature."""
    model = []
    for k in range(n_classes):
        rows = [r for r, label in zip(x, y) if label == k]
        means = [sum(col) / len(rows) for col in zip(*rows)]
        # A small floor keeps a constant feature from dividing by zero.
        variances = [max(sum((v - m) ** 2 for v in col) / len(rows), 1e-9) for col, m in zip(zip(*rows), means)]
        model.append((len(rows) / len(x), means, variances))
    return model


def predict(model, row):
    def log_posterior(prior, means, variances):
        return math.log(prior) + sum(
            -0.5 * math.log(2 * math.pi * var) - (v - m) ** 2 / (2 * var) for v, m, var in zip(row, means, variances)
        )

    scores = [log_posterior(*params) for params in model]
    return scores.index(max(scores))


def main():
    inputs = json.load(sys.stdin)
    data = inputs["data"]
    train, test = data["train"], data["test"]
    model = fit(train["x"], train["y"], len(data["classes"]))
    correct = sum(predict(model, row) == label for row, label in zip(test["x"], test["y"]))
    accuracy = correct / len(test["y"])
    print(f"gaussian naive bayes: {correct}/{len(test['y'])} correct on the test split")
    with open(os.environ["SLUICE_OUTPUT"], "w") as f:
        json.dump({"model": "gaussian_naive_bayes", "accuracy": accuracy}, f)


if __name__ == "__main__":
    main()
