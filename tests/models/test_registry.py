"""The registry takes Method classes with ModelConfig settings, and every method's hooks are typed."""

import pytest

from pairless.models.base import Method, TranslationModel
from pairless.models.options import ModelConfig
from pairless.models.registry import get_method, method_names, register


def test_a_class_that_is_no_method_is_refused_at_registration():
    with pytest.raises(TypeError, match="derive from Method"):
        register("not-a-method", object, ModelConfig)
    with pytest.raises(TypeError, match="config from ModelConfig"):
        register("plain-config", TranslationModel, dict)
    assert "not-a-method" not in method_names() and "plain-config" not in method_names()


def test_every_method_declares_its_data_and_the_hooks_it_overrides():
    kinds = {name: get_method(name).model_class.data_kind for name in method_names()}
    assert {name for name, kind in kinds.items() if kind == "labelled"} == {"acgan", "projgan", "contragan"}
    assert set(kinds.values()) == {"unpaired", "labelled"}
    attention = {name for name in method_names() if get_method(name).model_class.has_attention_maps}
    assert attention == {"ugatit", "ugatit-light"}
    assert all(issubclass(get_method(name).model_class, Method) for name in method_names())
