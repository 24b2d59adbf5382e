"""The train commands' configurations are built from the parsed command line one way, and checked
when they are made (before any data is read)."""

import argparse
from dataclasses import fields

import pytest

from artem_vr.errors import UsageError
from artem_vr.style.train_generator_cli import GeneratorTrainConfig
from artem_vr.style.train_xnor_cli import XnorTrainConfig


def _namespace(cls, **given):
    values = {f.name: f.default for f in fields(cls)}  # the required ones are given
    return argparse.Namespace(**{**values, **given})


def test_generator_config_takes_the_namespace_and_makes_lists_tuples(tmp_path):
    cfg = GeneratorTrainConfig.from_args(_namespace(GeneratorTrainConfig, content=tmp_path, style="starry_night",
                                                    out="mine", style_layers=["relu1_1", "relu2_1"]))
    assert cfg.style_layers == ("relu1_1", "relu2_1") and cfg.out == "mine" and cfg.iters == 2000


@pytest.mark.parametrize("cls, needed", [(GeneratorTrainConfig, {"style": "s"}), (XnorTrainConfig, {"teacher": "t"})])
@pytest.mark.parametrize("bad", [{"iters": 0}, {"batch": 0}])
def test_no_iterations_or_an_empty_batch_is_refused(tmp_path, cls, needed, bad):
    args = _namespace(cls, content=tmp_path, out="mine", **needed, **bad)
    with pytest.raises(UsageError, match=r"--(iters|batch) 0 must be at least 1"):
        cls.from_args(args)
