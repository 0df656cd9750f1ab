"""pytorch-metric-learning → spacelens: log every tested epoch's embeddings as spaces.

pytorch-metric-learning's testers compute the embeddings of each split, score them, call
``end_of_testing_hook(tester)`` and then throw the embeddings away. :class:`SpacelensLogger`
is that hook: it registers each split's embeddings as a space of one experiment, named

    ``<experiment>.epoch_<epoch>.<split>``   e.g. ``triplet.epoch_12.val``

(names may not contain ``/``; the space also records ``step=epoch`` and ``split``, which is
what ``spacelens evolution`` orders by), and its ``end_of_epoch_hook`` records the trainer's
loss, miner, sampler, optimizer (and their parameters) as experiment params.

Rows are matched to the dataset by id: the dataset is registered before training, and the
logger is told, per split, the ids of the split's items *in the order the split dataset
yields them* (testers iterate without shuffling).

>>> logger = SpacelensLogger("triplet", dataset="digits", ids={"val": val_ids})  # doctest: +SKIP
>>> tester = testers.GlobalEmbeddingSpaceTester(end_of_testing_hook=logger.end_of_testing_hook)
>>> trainer = trainers.MetricLossOnly(..., end_of_epoch_hook=logger.end_of_epoch_hook(
...     tester, {"val": val_dataset}))                                        # doctest: +SKIP

This module imports torch; nothing in spacelens' core imports it.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.registry import Space, validate_name

SPACE_NAME = "{experiment}.epoch_{epoch}.{split}"
SPACE_NAME_PER_RUN = "{experiment}.{run}.epoch_{epoch}.{split}"  # re-runs kept beside each other
RERUN_MODES = ("replace", "keep")
ACCURACY_KIND = "pml_accuracies"  # artifact holding the tester's own accuracies for a logged space

# Attributes that are bookkeeping, not hyper-parameters.
_SKIP = {"training", "collect_stats", "last_epoch", "labels_to_indices", "labels", "list_size",
         "length_of_single_pass", "_step_count", "verbose", "base_lrs", "_last_lr"}
# Statistics pytorch-metric-learning objects set while running (``is_stat`` recordables in PML
# 2.x): they describe the last batch, not the recipe. A name the object also lists as a plain
# recordable (``_record_these``: e.g. ArcFace's ``margin``) is kept.
_STATS = {"alpha", "average_angle", "centers_per_class", "diff_class_center_sim", "divisor", "high", "low",
          "losses_size", "margin", "max_angle", "min_angle", "neg_margin", "neg_pair_dist", "num_classes",
          "pos_margin", "pos_pair_dist", "same_class_center_sim", "scale", "std_of_angle"}
_STAT_PREFIXES = ("num_", "avg_", "final_avg_", "initial_avg_", "hardest_", "easiest_")
# Optimizer param_group keys that select an implementation, not a recipe.
_OPT_SKIP = {"params", "foreach", "capturable", "differentiable", "fused", "maximize", "initial_lr"}


def _plain(v) -> Any:
    """A JSON-ready scalar (or short list of scalars) or ``None`` when ``v`` is not one."""
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, (list, tuple)) and len(v) <= 8:
        items = [_plain(x) for x in v]
        if all(x is not None and not isinstance(x, (list, dict)) for x in items):
            return items
    return _Unset


class _UnsetType:
    pass


_Unset = _UnsetType()


def describe(obj, depth: int = 2) -> dict | None:
    """``{"name": class, <hyper-parameters>}`` of a loss, miner, sampler, optimizer or scheduler.

    Hyper-parameters are the object's public scalar attributes (pytorch-metric-learning
    stores its constructor arguments that way: ``margin``, ``epsilon``, ``m_per_class``...);
    sub-modules such as a loss's ``distance`` and ``reducer`` are described inside it.
    """
    if obj is None:
        return None
    out: dict[str, Any] = {"name": type(obj).__name__}
    if isinstance(obj, torch.optim.Optimizer):
        groups = [{k: _plain(v) for k, v in g.items() if k not in _OPT_SKIP} for g in obj.param_groups]
        first = {k: v for k, v in groups[0].items() if v is not _Unset}
        out.update(first)
        if len(groups) > 1 and any(g.get("lr") != groups[0].get("lr") for g in groups):
            out["lr"] = [g.get("lr") for g in groups]
        return out
    recipe = set(getattr(obj, "_record_these", []) or [])
    for k, v in vars(obj).items():
        if k.startswith("_") or k in _SKIP:
            continue
        if k not in recipe and (k in _STATS or k.startswith(_STAT_PREFIXES)):
            continue
        p = _plain(v)
        if p is not _Unset:
            out[k] = p
    if isinstance(obj, torch.nn.Module) and depth > 0:
        for name, child in obj.named_children():
            out[name] = describe(child, depth - 1)
    return out


def _describe_model(m) -> dict:
    n = sum(p.numel() for p in m.parameters()) if isinstance(m, torch.nn.Module) else 0
    return {"name": type(m).__name__, "n_parameters": int(n)}


def _one_or_many(objs: Mapping[str, Any], strip: str = "") -> dict | None:
    """One description when there is one object (or all are alike), else one per key."""
    if not objs:
        return None
    descs = {k.removesuffix(strip): describe(v) for k, v in objs.items()}
    values = list(descs.values())
    if len(values) == 1:
        return values[0]
    if all(v == values[0] for v in values):
        return {**values[0], "applies_to": list(descs)}
    return descs


def describe_trainer(trainer) -> dict:
    """Experiment params for a pytorch-metric-learning trainer: the recipe, not the weights.

    ``loss`` / ``miner`` / ``optimizer`` / ``lr_scheduler`` hold one description, or one per
    trainer key when there are several that differ (optimizers that are alike for trunk and
    embedder collapse into one with ``applies_to``).
    """
    params: dict[str, Any] = {"trainer": type(trainer).__name__}
    params["loss"] = _one_or_many(getattr(trainer, "loss_funcs", {}) or {})
    params["miner"] = _one_or_many(getattr(trainer, "mining_funcs", {}) or {})
    params["sampler"] = describe(getattr(trainer, "sampler", None))
    params["optimizer"] = _one_or_many(getattr(trainer, "optimizers", {}) or {}, "_optimizer")
    params["lr_scheduler"] = _one_or_many(getattr(trainer, "lr_schedulers", {}) or {})
    params["batch_size"] = _plain(getattr(trainer, "batch_size", None))
    params["iterations_per_epoch"] = _plain(getattr(trainer, "iterations_per_epoch", None))
    weights = getattr(trainer, "loss_weights", None) or {}
    if any(w != 1 for w in weights.values()):
        params["loss_weights"] = {k: _plain(v) for k, v in weights.items()}
    models = getattr(trainer, "models", {}) or {}
    params["model"] = {k: _describe_model(v) for k, v in models.items()}
    return {k: v for k, v in params.items() if v is not None and v is not _Unset}


class SpacelensLogger:
    """Registers a tester's embeddings, per split and epoch, as spaces of one experiment.

    ``dataset``: name of a registered dataset holding every item the splits yield.
    ``ids``: ``{split: ids}``, each split's item ids in the order its dataset yields them.
    ``label_field``: when given, each logged space is also evaluated with
    :func:`spacelens.api.evaluate` on that dataset column (cached in the registry), and the
    tester's labels are checked against it to catch ids given in the wrong order.
    ``params``: extra experiment params (merged over the recorded recipe).
    ``splits``: log only these splits (default: every split that has ids).
    ``run``: this training run's name (default: a new one per logger, ``run-<date>-<time>-<4 hex>``).
    ``rerun``: what happens to the spaces an earlier run of the experiment logged: ``"replace"``
    (default; at this run's first log of a split, the other runs' epochs of that split are
    removed, so a shorter re-run leaves no stale later epochs) or ``"keep"`` (they stay; this
    run's spaces are named ``<experiment>.<run>.epoch_<n>.<split>``). ``spacelens evolution``
    follows one run either way.
    ``dtype``: how each epoch's vectors are stored, "float32" (default) or "float16" (half the
    bytes; readers get float32; the figures agree with float32's, see the README).
    """

    def __init__(self, experiment: str, *, dataset: str, ids: Mapping[str, Sequence], home=None,
                 model_name: str | None = None, params: dict | None = None, splits: Sequence[str] | None = None,
                 label_field: str | None = None, name_format: str | None = None, record_accuracies: bool = True,
                 run: str | None = None, rerun: str = "replace", dtype: str = "float32"):
        from spacelens.api import open_registry
        from spacelens.registry.store import check_dtype

        self.dtype = check_dtype(dtype)

        if rerun not in RERUN_MODES:
            raise SpacelensError(f"rerun={rerun!r} is not a mode", f"Use one of: {', '.join(RERUN_MODES)}")
        self.reg = open_registry(home)
        self.experiment = validate_name(experiment, "experiment name")
        self.run = validate_name(run, "run name") if run is not None else new_run_name()
        self.rerun = rerun
        if name_format is None:
            name_format = SPACE_NAME if rerun == "replace" else SPACE_NAME_PER_RUN
        elif rerun == "keep" and "{run}" not in name_format:
            raise SpacelensError("With rerun='keep' the space names must hold the run",
                                 "Put {run} in name_format, or leave name_format out")
        self.dataset = dataset
        self.model_name = model_name
        self.user_params = dict(params or {})
        self.recipe: dict = {}
        self.label_field = label_field
        self.name_format = name_format
        self.record_accuracies = record_accuracies
        self.logged: list[str] = []
        self._warned: set[str] = set()
        self._labels_checked: set[str] = set()
        ds = self.reg.dataset(dataset)  # NotFoundError with a hint when it is not registered
        if label_field is not None and label_field not in {c["name"] for c in ds.columns}:
            raise SpacelensError(f"Dataset {dataset!r} has no column {label_field!r}",
                                 f"Use one of: {', '.join(c['name'] for c in ds.columns)}")
        known = self.reg.load_ids(ds)
        import pandas as pd

        index = pd.Index(known)
        self.ids: dict[str, np.ndarray] = {}
        self._rows: dict[str, np.ndarray] = {}
        for split, split_ids in ids.items():
            arr = np.asarray([str(x) for x in split_ids], dtype=object)
            self.space_name(0, split)  # validates the split as part of a name
            pos = index.get_indexer(arr)
            if (pos < 0).any():
                bad = arr[pos < 0][:3]
                raise SpacelensError(
                    f"{int((pos < 0).sum())} ids of split {split!r} are not in dataset {dataset!r} "
                    f"(e.g. {', '.join(map(repr, bad))})",
                    "Register a dataset that holds every item of every split, and pass its ids")
            if len(np.unique(pos)) != len(pos):
                raise SpacelensError(f"The ids of split {split!r} contain duplicates",
                                     "Pass each item's id once, in the order the split dataset yields them")
            self.ids[split], self._rows[split] = arr, pos
        self.splits = list(splits) if splits is not None else list(self.ids)
        missing = [s for s in self.splits if s not in self.ids]
        if missing:
            raise SpacelensError(f"No ids given for split(s) {', '.join(map(repr, missing))}",
                                 "Pass ids={split: [...]} for every split to log")

    # -- naming and params ----------------------------------------------------------------
    def space_name(self, epoch: int, split: str) -> str:
        """The space name for ``split`` at ``epoch`` (``<experiment>.epoch_<n>.<split>``)."""
        return validate_name(self.name_format.format(experiment=self.experiment, epoch=epoch, split=split,
                                                     run=self.run), "space name")

    @property
    def params(self) -> dict:
        """Experiment params written with every logged space (recipe, then user params)."""
        return {**self.recipe, **self.user_params}

    def record_trainer(self, trainer) -> dict:
        """Record a trainer's loss, miner, sampler, optimizer... (written with the next space)."""
        self.recipe.update(describe_trainer(trainer))
        return self.params

    def record(self, **objects) -> dict:
        """Record objects of a custom loop: ``record(loss=..., miner=..., optimizer=...)``.

        Objects are described (class name and scalar hyper-parameters); plain values are kept.
        """
        for key, obj in objects.items():
            p = obj if isinstance(obj, dict) else _plain(obj)
            self.recipe[key] = p if p is not _Unset else describe(obj)
        return self.params

    # -- logging --------------------------------------------------------------------------
    def log(self, split: str, epoch: int, embeddings, labels=None) -> Space:
        """Register one split's embeddings at ``epoch`` (rows in the split dataset's order)."""
        if split not in self.ids:
            raise SpacelensError(f"No ids given for split {split!r}", "Pass ids={split: [...]} to the logger")
        n = int(embeddings.shape[0])
        if n != len(self.ids[split]):
            raise SpacelensError(
                f"The tester gave {n} embeddings for split {split!r} but {len(self.ids[split])} ids were given",
                "Pass the ids of exactly the items the split dataset yields, in its order")
        if labels is not None and self.label_field is not None and split not in self._labels_checked:
            self._check_labels(split, labels)
        from spacelens import api

        name = self.space_name(epoch, split)
        space = api.log_space(name, embeddings, dataset=self.dataset, experiment=self.experiment,
                              ids=self.ids[split], step=int(epoch), split=split, model_name=self.model_name,
                              params=self.params or None, overwrite=True, run=self.run,
                              replace_other_runs=self.rerun == "replace", dtype=self.dtype, home=self.reg)
        if self.label_field is not None:
            api.evaluate(name, label_field=self.label_field, home=self.reg)
        self.logged.append(name)
        return space

    def _check_labels(self, split: str, labels) -> None:
        """Warn when the tester's labels do not partition the items like the dataset column."""
        self._labels_checked.add(split)
        tl = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
        tl = tl[:, 0] if tl.ndim == 2 else tl
        col = self.reg.load_table(self.dataset, columns=[self.label_field])[self.label_field].to_numpy()[self._rows[split]]
        pairs = {(a, b) for a, b in zip(tl.tolist(), col.tolist())}
        if len(pairs) != len(set(tl.tolist())) or len(pairs) != len(set(col.tolist())):
            warnings.warn(
                f"The tester's labels for split {split!r} do not match column {self.label_field!r} of dataset "
                f"{self.dataset!r}: are the ids in the order the split dataset yields its items?",
                SpacelensWarning, stacklevel=3)

    def end_of_testing_hook(self, tester) -> None:
        """Tester hook: log every split the tester embedded (and keep its accuracies)."""
        emb = getattr(tester, "embeddings_and_labels", None) or {}
        accs = getattr(tester, "all_accuracies", None) or {}
        epochs = {a.get("epoch") for a in accs.values() if isinstance(a, dict)} - {None}
        if len(epochs) != 1:
            raise SpacelensError("The tester's accuracies carry no single epoch",
                                 "Call the logger from tester.test(...), which sets the epoch")
        epoch = int(epochs.pop())
        for split in emb:
            if split not in self.ids and split not in self._warned:
                self._warned.add(split)
                warnings.warn(f"Not logging split {split!r}: no ids were given for it", SpacelensWarning,
                              stacklevel=2)
        for split in (s for s in self.splits if s in emb):  # the user's split order, not the tester's set order
            embeddings, labels = emb[split]
            self.log(split, epoch, embeddings, labels)
            if self.record_accuracies and split in accs:
                self._store_accuracies(tester, split, accs[split], epoch)

    def _store_accuracies(self, tester, split, acc: dict, epoch: int) -> None:
        values = {k: _plain(v) for k, v in acc.items() if k != "epoch"}
        info = {"accuracies": {k: v for k, v in values.items() if v is not _Unset}, "epoch": epoch,
                "reference_splits": list(getattr(tester, "reference_split_names", {}).get(split, [])),
                "tester": type(tester).__name__, "normalized": bool(getattr(tester, "normalize_embeddings", False))}
        self.reg.put_artifact(ACCURACY_KIND, self.space_name(epoch, split), {}, {}, info)

    def attach(self, tester) -> None:
        """Make ``tester`` call this logger after testing (before any hook it already has)."""
        current = tester.end_of_testing_hook
        if current == self.end_of_testing_hook or getattr(current, "_spacelens_logger", None) is self:
            return
        if current is None:
            tester.end_of_testing_hook = self.end_of_testing_hook
            return

        def chained(t):
            self.end_of_testing_hook(t)
            return current(t)

        chained._spacelens_logger = self
        tester.end_of_testing_hook = chained

    def end_of_epoch_hook(self, tester, dataset_dict: Mapping, *, test_interval: int = 1,
                          splits_to_eval=None, collate_fn=None,
                          inner: Callable | None = None) -> Callable[[Any], bool]:
        """A trainer ``end_of_epoch_hook``: records the recipe, tests, logs the spaces.

        ``inner``: another epoch hook to run instead of the plain test (e.g. record-keeper's
        ``HookContainer.end_of_epoch_hook(...)``, which tests and saves models itself); the
        logger still logs, since it attaches itself to ``tester``. Returns what ``inner``
        returns (False stops training), else True.
        """
        self.attach(tester)

        def hook(trainer) -> bool:
            self.record_trainer(trainer)
            if inner is not None:
                return inner(trainer)
            if trainer.epoch % test_interval == 0:
                tester.test(dataset_dict, trainer.epoch, trainer.models["trunk"], trainer.models.get("embedder"),
                            splits_to_eval, collate_fn)
            return True

        return hook


def new_run_name() -> str:
    """A fresh training-run name: ``run-<UTC date>-<time>-<4 hex>`` (sorts by start time)."""
    import time
    import uuid

    return f"run-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:4]}"


def pml_accuracies(space: str, *, home=None) -> dict | None:
    """The accuracies the pytorch-metric-learning tester reported for a logged space."""
    from spacelens.api import open_registry

    art = open_registry(home).get_artifact(ACCURACY_KIND, space, {})
    return None if art is None else art.info
