"""Top-1 / top-5 accuracy and a confusion summary of a classifier on a labelled tf.data pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class EvalReport:
    count: int
    top1: float
    top5: float
    class_names: list[str]
    confusion: list[list[int]]  # rows: true class, columns: predicted class

    def per_class_accuracy(self) -> dict[str, float]:
        m = np.asarray(self.confusion)
        return {name: float(m[i, i] / m[i].sum()) if m[i].sum() else float("nan")
                for i, name in enumerate(self.class_names)}

    def top_confusions(self, n: int = 5) -> list[tuple[str, str, int]]:
        m = np.asarray(self.confusion).copy()
        np.fill_diagonal(m, 0)
        order = np.argsort(m, axis=None)[::-1][:n]
        pairs = [np.unravel_index(i, m.shape) for i in order]
        return [(self.class_names[t], self.class_names[p], int(m[t, p])) for t, p in pairs if m[t, p] > 0]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_text(self) -> str:
        k = min(5, len(self.class_names))
        lines = [f"images: {self.count}", f"top-1: {self.top1:.4f}", f"top-{k}: {self.top5:.4f}", "per class:"]
        lines += [f"  {name}: {acc:.3f}" for name, acc in self.per_class_accuracy().items()]
        confusions = self.top_confusions()
        lines.append("most confused (true -> predicted: count):" if confusions else "no confusions")
        lines += [f"  {t} -> {p}: {c}" for t, p, c in confusions]
        return "\n".join(lines)


def evaluate(model, dataset, class_names) -> EvalReport:
    """Run ``model`` over ``dataset`` (batches of inputs and one-hot labels) and score it."""
    import keras

    probs, labels = [], []
    for x, y in dataset:
        probs.append(keras.ops.convert_to_numpy(model(x, training=False)))  # a torch tensor too
        labels.append(np.asarray(y).argmax(-1))
    p, t = np.concatenate(probs), np.concatenate(labels)
    k = min(5, p.shape[1])
    topk = np.argsort(-p, axis=1)[:, :k]
    num = len(class_names)
    confusion = np.zeros((num, num), dtype=int)
    np.add.at(confusion, (t, topk[:, 0]), 1)
    return EvalReport(
        count=int(len(t)), top1=float((topk[:, 0] == t).mean()), top5=float((topk == t[:, None]).any(1).mean()),
        class_names=list(class_names), confusion=confusion.tolist(),
    )
