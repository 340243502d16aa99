"""``nnsim landscape`` and ``nnsim lr-find``: the JSON recomputed from its own numbers and the
data, the text, and bad input as one line with status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reference
from nnsim.__main__ import main
from nnsim.core.run import Run
from nnsim.core.scenario import load_scenario

TABLES = {"data": {"kind": "xor", "n_points": 80},
          "model": {"layers": [5, 4], "activation": "tanh"},
          "train": {"optimizer": "sgd", "lr": 0.3, "batch_size": 8, "steps": 60, "eval_every": 5}}


def scenario_file(tmp_path, variants=("fast", "slow")) -> str:
    lines = ['title = "landscape test"', 'summary = "a plane"', 'lesson = "."']
    for table, values in TABLES.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    for name, lr in zip(variants, (0.3, 0.03)):
        lines += ["[[variant]]", f'name = "{name}"', f"train.lr = {lr}"]
    path = tmp_path / "plane.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def output(argv, capsys, status=0):
    assert main(argv) == status
    return capsys.readouterr()


def test_a_grid_point_recomputed_from_the_json_and_the_data(tmp_path, capsys):
    path = scenario_file(tmp_path)
    out = json.loads(output(["landscape", path, "--variant", "slow", "--step", "40", "--grid",
                             "4", "--json"], capsys).out)
    assert (out["variant"], out["step"], out["plane"], out["split"]) == ("slow", 40, "pca", "train")
    assert [p["variant"] for p in out["paths"]] == ["fast", "slow"]     # one start, one plane
    assert out["paths"][1]["steps"][-1] == 40
    assert np.array(out["losses"]).shape == (4, 4)
    x, y = Run(load_scenario(path).variants[1].config).split("train")
    for j, i in ((0, 0), (3, 2)):
        layers = [reference.Layer(np.array(w["W"]) + out["alphas"][i] * np.array(d1["W"])
                                  + out["betas"][j] * np.array(d2["W"]),
                                  np.array(w["b"]) + out["alphas"][i] * np.array(d1["b"])
                                  + out["betas"][j] * np.array(d2["b"]),
                                  w["activation"], False)
                  for w, d1, d2 in zip(out["weights"], *out["directions"])]
        logits, _ = reference.forward(layers, x)
        expected = reference.data_loss(out["loss_function"], logits, y)[0]
        assert out["losses"][j][i] == pytest.approx(expected, rel=1e-9)
    d = np.array([np.concatenate([np.ravel(layer[k]) for layer in direction for k in ("W", "b")])
                  for direction in out["directions"]])
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-12)


def test_the_text_map_says_what_the_plane_is(tmp_path, capsys):
    text = output(["landscape", scenario_file(tmp_path), "--grid", "9"], capsys).out
    assert "a 2-D slice through 44 dimensions" in text and "of its variance" in text
    assert "1: fast's path, 2: slow's path" in text
    assert len([line for line in text.splitlines() if line.startswith("  ")]) == 9


def test_lr_find_json_and_text(tmp_path, capsys):
    path = scenario_file(tmp_path)
    out = json.loads(output(["lr-find", path, "--json"], capsys).out)
    assert out["rates"][0] == pytest.approx(1e-6) and len(out["rates"]) == len(out["losses"])
    assert out["suggestion"] == out["steepest_rate"]
    text = output(["lr-find", path, "--variant", "slow"], capsys).out
    assert "variant slow from step 0" in text and "the run trains at 0.03" in text


@pytest.mark.parametrize("argv,message", [
    (["landscape", "{path}", "--variant", "nope"], "--variant: expected one of fast, slow"),
    (["landscape", "{path}", "--step", "61"], "--step: expected a step up to train.steps (60)"),
    (["lr-find", "{path}", "--variant", "nope"], "--variant: expected one of fast, slow"),
])
def test_bad_input_is_one_line_and_status_2(argv, message, tmp_path, capsys):
    path = scenario_file(tmp_path)
    err = output([a.replace("{path}", path) for a in argv], capsys, status=2).err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_grid_too_small_is_refused_by_the_parser(tmp_path, capsys):
    err = output(["landscape", scenario_file(tmp_path), "--grid", "1"], capsys, status=2).err
    assert "--grid: expected a whole number >= 2, got '1'" in err and "Traceback" not in err


def test_without_step_a_run_that_diverged_is_taken_where_it_ended(tmp_path, capsys):
    path = scenario_file(tmp_path).replace("plane.toml", "plane.toml")
    text = open(path).read().replace("train.lr = 0.3", "train.lr = 0.3\ntrain.divergence_factor = 1.0001")
    open(path, "w").write(text)
    out = json.loads(output(["landscape", path, "--variant", "fast", "--json", "--grid", "3"],
                            capsys).out)
    assert 0 < out["step"] < 60
    err = output(["landscape", path, "--variant", "fast", "--step", "50"], capsys, status=2).err
    assert "--step: variant 'fast' diverged at step" in err
