"""Parameter-server training (TensorFlow, CPU) on scikit-learn's bundled digits data.

Reads the TFJob env contract (TF_CONFIG) that Arena sets for every replica, on the local engine and on
a cluster alike:

    arena submit tfjob --name ps-digits --chief --ps 2 --workers 2 --wait \
        "python examples/tensorflow/ps_digits.py"
    arena logs ps-digits         # (the chief) ... final test accuracy=0.9xx

- `ps` and `worker` tasks start a `tf.distribute.Server` and serve until they are stopped: they never
  exit on their own. The job ends when the chief ends (the Training Operator's ChiefWorker success
  policy), and the engine then stops the servers.
- The `chief` runs `ParameterServerStrategy` through `tf.distribute.coordinator.ClusterCoordinator`
  with a custom training step (Keras 3's `model.fit` no longer supports the parameter-server strategy):
  the variables live on the ps tasks, the workers run the steps the coordinator schedules.

No download: the data ships inside scikit-learn.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: keep the log readable
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN banner (and identical numerics everywhere)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)  # pixel values are 0..16
    x_tr, x_te, y_tr, y_te = train_test_split(x, y.astype(np.int64), test_size=0.25, random_state=0, stratify=y)
    return x_tr, x_te, y_tr, y_te


def serve(resolver: tf.distribute.cluster_resolver.ClusterResolver) -> None:
    """A ps or worker task: host variables / run scheduled steps until the engine stops us."""
    address = resolver.cluster_spec().task_address(resolver.task_type, resolver.task_id)
    print(f"{resolver.task_type} {resolver.task_id}: serving on {address}", flush=True)
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type, task_index=resolver.task_id,
                                  protocol=resolver.rpc_layer or "grpc", start=True)
    server.join()


class MLP(tf.Module):
    """64 → hidden → 10, plain variables (created under the strategy's scope, so they live on the ps tasks)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        init = tf.keras.initializers.GlorotUniform(seed=0)
        self.w1 = tf.Variable(init((64, hidden)), name="w1")
        self.b1 = tf.Variable(tf.zeros([hidden]), name="b1")
        self.w2 = tf.Variable(init((hidden, 10)), name="w2")
        self.b2 = tf.Variable(tf.zeros([10]), name="b2")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.matmul(tf.nn.relu(tf.matmul(x, self.w1) + self.b1), self.w2) + self.b2


def chief(resolver: tf.distribute.cluster_resolver.ClusterResolver, args: argparse.Namespace) -> None:
    x_tr, x_te, y_tr, y_te = data()
    strategy = tf.distribute.ParameterServerStrategy(resolver)
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    n_workers = len(resolver.cluster_spec().as_dict().get("worker", []))
    n_ps = len(resolver.cluster_spec().as_dict().get("ps", []))
    print(f"chief: {n_ps} ps, {n_workers} workers", flush=True)

    with strategy.scope():
        model = MLP(args.hidden)
        # Adam, by hand: its slots are variables too, so they also live on the ps tasks.
        params = list(model.trainable_variables)
        m = [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]
        v = [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]
        t = tf.Variable(0.0, trainable=False)

    def dataset_fn(_: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((x_tr, y_tr))
        return ds.shuffle(len(x_tr), seed=0).repeat().batch(args.batch_size).prefetch(2)

    per_worker = coordinator.create_per_worker_dataset(dataset_fn)
    iterator = iter(per_worker)
    lr, b1, b2, eps = args.lr, 0.9, 0.999, 1e-7

    @tf.function
    def train_step(it):  # type: ignore[no-untyped-def]
        def step(x, y):  # type: ignore[no-untyped-def]
            with tf.GradientTape() as tape:
                logits = model(x)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
            grads = tape.gradient(loss, params)
            step_t = t.assign_add(1.0)
            for p, g, mi, vi in zip(params, grads, m, v):
                mi.assign(b1 * mi + (1 - b1) * g)
                vi.assign(b2 * vi + (1 - b2) * tf.square(g))
                m_hat = mi / (1 - tf.pow(b1, step_t))
                v_hat = vi / (1 - tf.pow(b2, step_t))
                p.assign_sub(lr * m_hat / (tf.sqrt(v_hat) + eps))
            return loss

        x, y = next(it)
        return strategy.run(step, args=(x, y))

    start = time.time()
    losses = []
    for _ in range(args.steps):
        losses.append(coordinator.schedule(train_step, args=(iterator,)))
    coordinator.join()
    last = [float(r.fetch()) for r in losses[-10:]]
    logits = model(tf.constant(x_te))
    acc = float(np.mean(np.argmax(logits.numpy(), axis=1) == y_te))
    print(f"chief: {args.steps} steps on {n_workers} workers in {time.time() - start:.1f}s, "
          f"last loss={np.mean(last):.4f}", flush=True)
    print(f"final test accuracy={acc:.4f} ps={n_ps} workers={n_workers}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args()
    if not os.environ.get("TF_CONFIG"):
        sys.exit("ps_digits.py needs TF_CONFIG (submit it as a tfjob with --chief, --ps and --workers)")
    cfg = json.loads(os.environ["TF_CONFIG"])
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if not resolver.rpc_layer:
        resolver.rpc_layer = "grpc"
    role = cfg.get("task", {}).get("type")
    if role in ("ps", "worker"):
        serve(resolver)
    elif role == "chief":
        chief(resolver, args)
        # The servers keep serving after training; do not wait in interpreter teardown for their channels.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    else:
        sys.exit(f"ps_digits.py: no role for task type {role!r} (expected chief, ps or worker)")


if __name__ == "__main__":
    main()
