"""Stage `evaluate@<variation>`: score a trained model on the test split.

Besides the metrics JSON it writes the data behind the confusion matrix and ROC curve
(scikit-learn computes both): one row per test photo, and the ROC points. DVC draws them
with its native `confusion` and `simple` templates; `catdog figures` as PNGs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from stages.core.atomic import write_csv, write_json
from stages.core.dataset import CLASS_NAMES, CachePaths, is_dog, load_split

PREDICT_BATCH = 256


def score(labels: np.ndarray, dog_probability: np.ndarray) -> dict[str, object]:
    """Test metrics of sigmoid outputs against 0/1 labels (dog is the positive class)."""
    predicted = is_dog(dog_probability).astype(int)
    truth = labels.astype(int)
    tn, fp, fn, tp = confusion_matrix(truth, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(truth)) == 2
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 6),
        "loss": round(
            float(log_loss(truth, np.clip(dog_probability, 1e-7, 1 - 1e-7), labels=[0, 1])), 6
        ),
        "precision": round(float(precision_score(truth, predicted, zero_division=0)), 6),
        "recall": round(float(recall_score(truth, predicted, zero_division=0)), 6),
        "roc_auc": round(float(roc_auc_score(truth, dog_probability)), 6) if both_classes else None,
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


@dataclass(frozen=True)
class EvaluateInputs:
    """What the stage reads: the trained model, the decode cache and the test split."""

    model: Path
    cache: CachePaths
    test_csv: Path


@dataclass(frozen=True)
class EvaluateOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    metrics: Path
    predictions: Path
    roc: Path


def predictions_table(
    filenames: list[str], labels: np.ndarray, dog_probability: np.ndarray
) -> pd.DataFrame:
    """One row per test photo: filename, actual, predicted, dog_probability."""
    names = np.array(CLASS_NAMES)
    return pd.DataFrame(
        {
            "filename": filenames,
            "actual": names[labels.astype(int)],
            "predicted": names[is_dog(dog_probability).astype(int)],
            "dog_probability": np.round(dog_probability.astype(float), 6),
        }
    )


def roc_table(labels: np.ndarray, dog_probability: np.ndarray) -> pd.DataFrame:
    """The ROC curve's points (fpr, tpr), dog being the positive class; empty for one class."""
    if len(np.unique(labels)) < 2:
        return pd.DataFrame({"fpr": [], "tpr": []})
    fpr, tpr, _ = roc_curve(labels.astype(int), dog_probability)
    return pd.DataFrame({"fpr": np.round(fpr, 6), "tpr": np.round(tpr, 6)})


def evaluate(inputs: EvaluateInputs, outputs: EvaluateOutputs) -> dict[str, object]:
    """Score the model on the test split; write the metrics JSON, the per-photo predictions
    and the ROC points. (Training time and epochs are the train stage's own metrics.)"""
    model = keras.models.load_model(inputs.model)
    test = load_split(inputs.cache, inputs.test_csv)
    probability = model.predict(test.images, batch_size=PREDICT_BATCH, verbose=0).reshape(-1)
    metrics = {
        **score(test.labels, probability),
        "test_images": len(test.labels),
    }
    write_csv(outputs.predictions, predictions_table(test.filenames, test.labels, probability))
    write_csv(outputs.roc, roc_table(test.labels, probability))
    write_json(outputs.metrics, metrics)
    print(
        f"evaluate: accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}, "
        f"AUC {metrics['roc_auc']}",
        file=sys.stderr,
    )
    return metrics
