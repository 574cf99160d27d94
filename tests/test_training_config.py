import pytest

from keras_fwi.config import ExperimentConfig, experiment_names, load_config


def test_presets_load_and_round_trip():
    assert {"quickstart", "inversionnet_flatvel-a", "fcnvmb_seg"} <= set(experiment_names())
    for name in experiment_names():
        config = load_config(name)
        assert ExperimentConfig.from_dict(config.to_dict()) == config


def test_openfwi_recipe_facts():
    config = load_config("inversionnet_flatvel-a")
    assert config.optimizer.name == "adamw" and config.optimizer.learning_rate == 1e-4
    assert (config.optimizer.beta_1, config.optimizer.beta_2, config.optimizer.weight_decay) == (0.9, 0.999, 1e-4)
    assert config.training.epochs == 120 and config.training.batch_size == 256
    assert (config.loss.l1, config.loss.l2) == (1.0, 0.0) and config.optimizer.scale_by_replicas
    fcnvmb = load_config("fcnvmb_seg")
    assert fcnvmb.optimizer.name == "adam" and fcnvmb.optimizer.learning_rate == 1e-3
    assert (fcnvmb.loss.l1, fcnvmb.loss.l2) == (0.0, 1.0)
    assert fcnvmb.training.batch_size == 10 and fcnvmb.training.epochs == 100


def test_overrides_change_any_key():
    config = load_config("quickstart", ["training.epochs=3", "optimizer.milestones=[2, 5]",
                                        "model.options.widths=[4, 8, 8, 16, 16]", "data.generate.boundary=null"])
    assert config.training.epochs == 3 and config.optimizer.milestones == (2, 5)
    assert config.model.options["widths"] == [4, 8, 8, 16, 16] and config.data.generate.boundary is None


@pytest.mark.parametrize("overrides, message", [
    (["training.epocs=3"], "unknown config key training.'epocs'; valid keys of training: epochs, batch_size"),
    (["training.epochs=three"], "config key training.epochs must be int, got 'three'"),
    (["training.epochs=true"], "config key training.epochs must be int, got True"),
    (["optimizer.milestones=5"], "config key optimizer.milestones must be a list"),
    (["colour=blue"], "unknown config key 'colour'; valid keys of the config: name, model, data"),
    (["training.epochs"], "must look like section.key=value"),
    (["training.shard=file"], "config key training.shard must be one of samples, files, got 'file'"),
])
def test_bad_keys_and_values(overrides, message):
    with pytest.raises(ValueError) as info:
        load_config("quickstart", overrides)
    assert message in str(info.value)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'quikstart': give a YAML file or one of"):
        load_config("quikstart")
    with pytest.raises(FileNotFoundError, match="config file .*absent.yaml does not exist"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("training: [epochs: 3\n")
    with pytest.raises(ValueError, match="is not valid YAML"):
        load_config(broken)


def test_generate_absorbing_is_one_layer_or_a_cycle():
    from keras_fwi.training.datasets import _generated_surveys

    one = load_config("quickstart", ["data.generate.absorbing=damping"]).data.generate
    assert one.absorbing == "damping" and _generated_surveys(one).absorbing == "damping"
    cycle = load_config("quickstart", ["data.generate.absorbing=[cpml, damping]"]).data.generate
    assert cycle.absorbing == ("cpml", "damping")
    assert [(s.absorbing, s.boundary) for s in _generated_surveys(cycle)] == [("cpml", 12), ("damping", 120)]
    with pytest.raises(ValueError, match="data.generate.absorbing"):
        load_config("quickstart", ["data.generate.absorbing=5"])
    with pytest.raises(ValueError, match="drop data.generate.boundary"):
        _generated_surveys(load_config("quickstart", ["data.generate.absorbing=[cpml, damping]",
                                                      "data.generate.boundary=20"]).data.generate)
