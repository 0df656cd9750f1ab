"""The pytorch-metric-learning hook: a real 2-epoch PML training on a digits subset logs the
expected spaces (names, steps, splits, shapes, ids, vectors), recipe params and evaluations.

References: the vectors are recomputed from the trained model by a plain forward pass, item
by item, by id; the evaluation is checked against the PML tester's own MAP@R on the same
embeddings; evolution against direct compare calls.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="the pml extra is not installed (pip install torch==2.13.0 "
                            "'spacelens[pml]')")
pytest.importorskip("pytorch_metric_learning", reason="pytorch-metric-learning is not installed")

from pytorch_metric_learning import losses, miners, samplers, testers, trainers  # noqa: E402
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator  # noqa: E402

import spacelens  # noqa: E402
from spacelens.errors import NotFoundError, SpacelensError, SpacelensWarning  # noqa: E402
from spacelens.integrations.pml import SpacelensLogger, describe, pml_accuracies  # noqa: E402

EXP = "pmltest"
CPU = torch.device("cpu")


class ArrayDataset(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def digits(home):
    """scikit-learn's bundled digits as a registered dataset (id, label, split) + pixels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    n = len(d.target)
    x = (d.data / 16.0).astype(np.float32)
    table = pd.DataFrame({"id": [f"d{i:04d}" for i in range(n)], "label": d.target.astype(int),
                          "split": np.where(np.arange(n) % 3 == 0, "val", "train")})
    spacelens.add(x, table, dataset_name="digits", experiment_name="pixels", space_name="digits.pixels", home=home)
    return table, x


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train 2 epochs (Triplet + MS miner, MPerClassSampler, Adam) with the hook; 300 train, 120 val items."""
    home = tmp_path_factory.mktemp("pml") / "home"
    table, x = digits(home)
    y = table["label"].to_numpy()
    rng = np.random.default_rng(0)
    train_rows = np.flatnonzero(table["split"] == "train")[:300]
    val_rows = rng.permutation(np.flatnonzero(table["split"] == "val")[:120])  # yields out of dataset order
    torch.manual_seed(0)
    np.random.seed(0)
    trunk = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU())
    embedder = torch.nn.Linear(64, 32)
    loss = losses.TripletMarginLoss(margin=0.2)
    miner = miners.MultiSimilarityMiner(epsilon=0.3)
    sampler = samplers.MPerClassSampler(y[train_rows], m=4, batch_size=40, length_before_new_iter=300)
    optimizers = {"trunk_optimizer": torch.optim.Adam(trunk.parameters(), lr=1e-3, weight_decay=1e-4),
                  "embedder_optimizer": torch.optim.Adam(embedder.parameters(), lr=1e-3, weight_decay=1e-4)}
    logger = SpacelensLogger(EXP, dataset="digits", home=home, label_field="label", params={"seed": 0},
                             ids={"val": table["id"].to_numpy()[val_rows], "train": table["id"].to_numpy()[train_rows]})
    tester = testers.GlobalEmbeddingSpaceTester(
        end_of_testing_hook=logger.end_of_testing_hook, dataloader_num_workers=0, data_device=CPU,
        accuracy_calculator=AccuracyCalculator(include=("mean_average_precision_at_r", "precision_at_1"),
                                               k="max_bin_count", device=CPU))
    datasets = {"val": ArrayDataset(x[val_rows], y[val_rows]), "train": ArrayDataset(x[train_rows], y[train_rows])}
    trainer = trainers.MetricLossOnly(
        models={"trunk": trunk, "embedder": embedder}, optimizers=optimizers, batch_size=40,
        loss_funcs={"metric_loss": loss}, mining_funcs={"tuple_miner": miner}, dataset=datasets["train"],
        sampler=sampler, dataloader_num_workers=0, data_device=CPU,
        end_of_epoch_hook=logger.end_of_epoch_hook(tester, datasets))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PML's "tensor with requires_grad to scalar"
        trainer.train(num_epochs=2)
    return dict(home=home, table=table, x=x, trunk=trunk, embedder=embedder, logger=logger,
                val_rows=val_rows, train_rows=train_rows)


def test_spaces_named_per_epoch_and_split_with_steps(trained):
    reg = spacelens.open_registry(trained["home"])
    spaces = {s.name: s for s in reg.spaces_of(experiment=EXP)}
    expected = {f"{EXP}.epoch_{e}.{s}" for e in (1, 2) for s in ("val", "train")}
    assert set(spaces) == expected
    for name, s in spaces.items():
        epoch, split = int(name.split(".")[1].removeprefix("epoch_")), name.split(".")[2]
        assert (s.step, s.split, s.dim, s.dataset) == (epoch, split, 32, "digits")
        assert s.n_rows == len(trained[f"{split}_rows"])
    assert trained["logger"].logged == [f"{EXP}.epoch_1.val", f"{EXP}.epoch_1.train",
                                        f"{EXP}.epoch_2.val", f"{EXP}.epoch_2.train"]


def test_vectors_match_a_forward_pass_by_id(trained):
    """Stored rows are in dataset order although the val split yielded a permutation."""
    reg = spacelens.open_registry(trained["home"])
    table, x = trained["table"], trained["x"]
    vec, ids = spacelens.load_space(f"{EXP}.epoch_2.val", home=reg)
    assert list(ids) == sorted(table["id"].to_numpy()[trained["val_rows"]])  # dataset order (ids sort like rows)
    rows = pd.Index(table["id"]).get_indexer(ids)
    trained["trunk"].eval()
    trained["embedder"].eval()
    with torch.no_grad():
        ref = torch.nn.functional.normalize(trained["embedder"](trained["trunk"](torch.from_numpy(x[rows])))).numpy()
    np.testing.assert_allclose(np.asarray(vec), ref, atol=1e-5)
    # epoch 1 is an earlier model: different vectors for the same ids
    v1, ids1 = spacelens.load_space(f"{EXP}.epoch_1.val", home=reg)
    assert list(ids1) == list(ids) and not np.allclose(np.asarray(v1), np.asarray(vec), atol=1e-3)


def test_recipe_recorded_as_experiment_params(trained):
    p = spacelens.open_registry(trained["home"]).experiment(EXP).params
    assert p["loss"]["name"] == "TripletMarginLoss" and p["loss"]["margin"] == pytest.approx(0.2)
    assert p["loss"]["distance"]["name"] == "LpDistance"
    assert p["miner"] == {"name": "MultiSimilarityMiner", "epsilon": pytest.approx(0.3),
                          "distance": p["miner"]["distance"]}
    sampler = p["sampler"]
    assert (sampler["name"], sampler["m_per_class"], sampler["batch_size"]) == ("MPerClassSampler", 4, 40)
    opt = p["optimizer"]
    assert (opt["name"], opt["lr"], opt["weight_decay"]) == ("Adam", 1e-3, 1e-4)
    assert opt["applies_to"] == ["trunk", "embedder"]
    assert p["batch_size"] == 40 and p["iterations_per_epoch"] == 300 // 40 and p["trainer"] == "MetricLossOnly"
    assert p["model"]["embedder"] == {"name": "Linear", "n_parameters": 64 * 32 + 32}
    assert p["seed"] == 0  # user params merged in


def test_evaluations_stored_and_equal_to_the_pml_testers_own(trained):
    reg = spacelens.open_registry(trained["home"])
    for e in (1, 2):
        for split in ("val", "train"):
            name = f"{EXP}.epoch_{e}.{split}"
            evals = reg.find_artifacts(kind="evaluation", space=name)
            assert len(evals) == 1 and evals[0].info["label_field"] == "label"
            pml = pml_accuracies(name, home=reg)
            assert pml["epoch"] == e and pml["reference_splits"] == [split]
            acc = pml["accuracies"]
            # same embeddings, same definitions: spacelens evaluate == PML's AccuracyCalculator
            assert evals[0].info["mean_average_precision_at_r"] == pytest.approx(
                acc["mean_average_precision_at_r_level0"], abs=1e-6)
            assert evals[0].info["precision_at_1"] == pytest.approx(acc["precision_at_1_level0"], abs=1e-6)


def test_evolution_of_the_trained_experiment_matches_compare(trained):
    reg = spacelens.open_registry(trained["home"])
    ev = spacelens.evolution(EXP, split="val", k=5, label_field="label", home=reg)
    assert ev.steps == [1, 2]
    direct = spacelens.compare(f"{EXP}.epoch_1.val", f"{EXP}.epoch_2.val", k=5, home=reg).mean
    assert ev.epochs[1].jaccard_prev == pytest.approx(direct, abs=1e-12)
    assert ev.epochs[0].jaccard_last == pytest.approx(direct, abs=1e-12)
    ev_train = spacelens.evolution(EXP, split="train", k=5, home=reg)
    assert [r.space for r in ev_train.epochs] == [f"{EXP}.epoch_1.train", f"{EXP}.epoch_2.train"]


def test_wrong_inputs_fail_before_training_with_a_fix(trained):
    home, table = trained["home"], trained["table"]
    with pytest.raises(NotFoundError):
        SpacelensLogger("x", dataset="nope", ids={"val": ["d0000"]}, home=home)
    with pytest.raises(SpacelensError, match="not in dataset"):
        SpacelensLogger("x", dataset="digits", ids={"val": ["d0000", "zzz"]}, home=home)
    with pytest.raises(SpacelensError, match="duplicates"):
        SpacelensLogger("x", dataset="digits", ids={"val": ["d0000", "d0000"]}, home=home)
    with pytest.raises(SpacelensError, match="no column"):
        SpacelensLogger("x", dataset="digits", ids={"val": ["d0000"]}, label_field="klass", home=home)
    with pytest.raises(SpacelensError, match="separators"):
        SpacelensLogger("x", dataset="digits", ids={"a/b": ["d0000"]}, home=home)
    logger = SpacelensLogger("x", dataset="digits", ids={"val": table["id"][:10]}, home=home)
    with pytest.raises(SpacelensError, match="gave 9 embeddings"):
        logger.log("val", 1, np.ones((9, 4), np.float32))


def test_label_check_warns_when_ids_are_in_the_wrong_order(trained):
    home, table = trained["home"], trained["table"]
    ids, labels = table["id"].to_numpy()[:50], table["label"].to_numpy()[:50]
    logger = SpacelensLogger("order-check", dataset="digits", ids={"val": ids[::-1]}, label_field="label", home=home)
    with pytest.warns(SpacelensWarning, match="order"):
        logger.log("val", 1, np.random.default_rng(0).normal(size=(50, 4)), torch.tensor(labels))
    ok = SpacelensLogger("order-ok", dataset="digits", ids={"val": ids}, label_field="label", home=home)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpacelensWarning)
        ok.log("val", 1, np.random.default_rng(0).normal(size=(50, 4)), torch.tensor(labels + 100))  # relabelled: fine


def test_attach_chains_an_existing_testing_hook(trained):
    logger = SpacelensLogger("chain", dataset="digits", ids={"val": trained["table"]["id"][:5]},
                             home=trained["home"])
    seen = []
    tester = testers.GlobalEmbeddingSpaceTester(end_of_testing_hook=lambda t: seen.append("theirs"),
                                                dataloader_num_workers=0, data_device=CPU)
    logger.attach(tester)
    logger.attach(tester)  # idempotent
    tester.embeddings_and_labels = {"val": (torch.ones(5, 3), torch.zeros(5, 1))}
    tester.all_accuracies = {"val": {"epoch": 7}}
    tester.end_of_testing_hook(tester)
    assert seen == ["theirs"] and logger.logged == ["chain.epoch_7.val"]


def test_describe_arcface_and_differing_optimizers():
    arc = losses.ArcFaceLoss(num_classes=10, embedding_size=16, margin=20, scale=30)
    d = describe(arc)
    assert (d["name"], d["num_classes"], d["scale"]) == ("ArcFaceLoss", 10, 30)
    assert d["margin"] == pytest.approx(np.radians(20))  # PML stores it in radians
    from spacelens.integrations.pml import describe_trainer

    class T:  # the attributes a PML trainer has
        loss_funcs = {"metric_loss": arc}
        optimizers = {"trunk_optimizer": torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9),
                      "metric_loss_optimizer": torch.optim.Adam(arc.parameters(), lr=0.01)}
        batch_size = 32

    p = describe_trainer(T())
    assert p["optimizer"]["trunk"]["name"] == "SGD" and p["optimizer"]["trunk"]["momentum"] == 0.9
    assert p["optimizer"]["metric_loss"] == {**p["optimizer"]["metric_loss"], "name": "Adam", "lr": 0.01}
    assert "miner" not in p and "sampler" not in p


def test_core_import_does_not_pull_torch():
    code = ("import sys, spacelens, spacelens.integrations, spacelens.evolution, spacelens.cli\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def _example():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "triplet_vs_arcface.py"
    spec = importlib.util.spec_from_file_location("triplet_vs_arcface", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_training_is_deterministic_for_a_seed(tmp_path):
    ex = _example()
    home = tmp_path / "home"
    table, images = ex.digits_table()
    assert (len(table), int((table.split == "val").sum()), table.label.nunique()) == (1797, 540, 10)
    spacelens.add(images.reshape(len(table), -1), table, dataset_name="digits", experiment_name="pixels",
                  space_name="digits.pixels", home=home)
    split = table["split"].to_numpy()
    sub = dict(train_rows=np.flatnonzero(split == "train")[:200], val_rows=np.flatnonzero(split == "val")[:80])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for exp, seed in (("a", 0), ("b", 0), ("c", 1)):
            ex.train_run(exp, "arcface", seed, 1, table, images, home, batch_size=40, m_per_class=4, verbose=False,
                         **sub)
    va, vb, vc = (np.asarray(spacelens.load_space(f"{e}.epoch_1.val", home=home)[0]) for e in "abc")
    assert va.shape == (80, 512)
    assert np.array_equal(va, vb)  # same seed, same threads: bit for bit
    assert not np.allclose(va, vc, atol=1e-3)
    p = spacelens.open_registry(home).experiment("a").params
    assert p["loss"]["name"] == "ArcFaceLoss" and p["sampler"]["m_per_class"] == 4 and p["seed"] == 0


@pytest.mark.slow
def test_example_end_to_end(tmp_path, capsys):
    """The example's story on 2 epochs: its printed figures are the registry's."""
    ex = _example()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = ex.main(["--home", str(tmp_path / "home"), "--epochs", "2", "--out", str(tmp_path / "fig")])
    out = capsys.readouterr().out
    home = tmp_path / "home"
    last = {e: f"{e}.epoch_2.val" for e in ex.EXPERIMENTS}
    ab = spacelens.compare(last["digits-triplet"], last["digits-arcface"], k=10, home=home).mean
    aa2 = spacelens.compare(last["digits-triplet"], last["digits-triplet-seed1"], k=10, home=home).mean
    assert res["compare"] == {"triplet_vs_arcface": pytest.approx(ab), "triplet_seed_baseline": pytest.approx(aa2)}
    assert f"{ab:.3f}" in out and f"{aa2:.3f}" in out and "--baseline" in out and "spacelens ui" in out
    for e in ("digits-triplet", "digits-arcface"):
        assert [r["step"] for r in res["evolution"][e]["epochs"]] == [1, 2]
        assert (tmp_path / "fig" / f"evolution_{e}.png").stat().st_size > 10_000
    for name in last.values():
        m = res["evaluate"][name]["mean_average_precision_at_r"]
        assert m == pytest.approx(pml_accuracies(name, home=home)["accuracies"]["mean_average_precision_at_r_level0"],
                                  abs=1e-6)


def test_record_for_a_custom_loop(trained):
    logger = SpacelensLogger("custom", dataset="digits", ids={"val": trained["table"]["id"][:6]}, home=trained["home"])
    net = torch.nn.Linear(3, 2)
    logger.record(loss=losses.ContrastiveLoss(pos_margin=0.1, neg_margin=0.9),
                  optimizer=torch.optim.SGD(net.parameters(), lr=0.05), epochs=7, notes={"aug": "flip"})
    logger.log("val", 1, np.random.default_rng(0).normal(size=(6, 3)))
    p = spacelens.open_registry(trained["home"]).experiment("custom").params
    assert (p["loss"]["name"], p["loss"]["pos_margin"], p["loss"]["neg_margin"]) == ("ContrastiveLoss", 0.1, 0.9)
    assert (p["optimizer"]["name"], p["optimizer"]["lr"], p["epochs"], p["notes"]) == ("SGD", 0.05, 7, {"aug": "flip"})
