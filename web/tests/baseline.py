"""The reference models of the clinical tests (web/tests/clinical-run.mjs): scikit-learn's
logistic regression (classification) or ordinary least squares (regression), fitted on the page's
own training split and scored on its test split: the same rows and the same encoded, standardized
features the page trained on, read from the page's state.

stdin: JSON {task: "classification" | "regression", train: {x, y}, test: {x, y}}; x rows of
features; y class indices (classification) or target values (regression, one output).
stdout: JSON {accuracy} or {r2, mae} (mae in the units of the given y).
"""
import json
import sys

from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score


def main() -> None:
    d = json.load(sys.stdin)
    (xt, yt), (xv, yv) = (d["train"]["x"], d["train"]["y"]), (d["test"]["x"], d["test"]["y"])
    if d["task"] == "classification":
        model = LogisticRegression(max_iter=5000).fit(xt, yt)
        out = {"accuracy": accuracy_score(yv, model.predict(xv))}
    else:
        model = LinearRegression().fit(xt, yt)
        p = model.predict(xv)
        out = {"r2": r2_score(yv, p), "mae": mean_absolute_error(yv, p)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
