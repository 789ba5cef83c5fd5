"""Plugin discovery: real entry points, broken plugins as warnings, hermetic switch."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from toy_helpers import TOY_DIR

from modelzoo.contract.api import MetricColumn, ModelSpec, UserError
from modelzoo.contract.plugins import PluginInfo, load_registry


def _install_dist(site: Path, dist: str, entry_points: dict[str, str]) -> None:
    """Write the metadata an installed distribution has (what pip leaves in site-packages)."""
    info = site / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[modelzoo]\n{lines}\n")


def test_discovers_models_through_an_installed_entry_point(tmp_path, monkeypatch):
    _install_dist(tmp_path, "modelzoo-toy", {"toy": "modelzoo_toy"})
    monkeypatch.syspath_prepend(str(TOY_DIR))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry(autoload=True)
    assert "toy" in registry.models
    assert registry.owners["toy"].name == "modelzoo-toy"
    assert registry.owners["toy"].version == "0.0.1"


def test_broken_plugin_is_a_warning_and_others_still_work(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('missing libfoo.so')\n")
    _install_dist(tmp_path, "modelzoo-broken", {"broken": "broken_plugin"})
    _install_dist(tmp_path / "b", "modelzoo-toy", {"toy": "modelzoo_toy"})
    monkeypatch.syspath_prepend(str(TOY_DIR))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    registry = load_registry(autoload=True)
    assert "toy" in registry.models
    assert any("modelzoo-broken" in w and "missing libfoo.so" in w for w in registry.warnings)


def test_plugin_violating_the_contract_is_skipped(tmp_path, monkeypatch):
    (tmp_path / "bad_hooks.py").write_text(textwrap.dedent("""
        from modelzoo import hookimpl

        @hookimpl
        def modelzoo_modles():  # misspelt hook
            return []
        """))
    (tmp_path / "bad_args.py").write_text(textwrap.dedent("""
        from modelzoo import hookimpl

        @hookimpl
        def modelzoo_train_data(context, unexpected):
            return None
        """))
    (tmp_path / "raising_models.py").write_text(textwrap.dedent("""
        from modelzoo import hookimpl

        @hookimpl
        def modelzoo_models():
            raise ValueError("bad spec")
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(TOY_DIR))
    monkeypatch.setenv("MODELZOO_PLUGINS", "bad_hooks,bad_args,raising_models,modelzoo_toy")
    registry = load_registry(autoload=False)
    assert list(registry.models) == ["toy", "toyseq"]
    text = "\n".join(registry.warnings)
    assert "bad_hooks" in text and "modelzoo_modles" in text
    assert "bad_args" in text and "unexpected" in text
    assert "raising_models" in text and "bad spec" in text
    assert len(registry.manager.get_plugins()) == 1


def test_autoload_switch_keeps_entry_points_out(tmp_path, monkeypatch):
    _install_dist(tmp_path, "modelzoo-toy", {"toy": "modelzoo_toy"})
    monkeypatch.syspath_prepend(str(TOY_DIR))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MODELZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("MODELZOO_PLUGINS", raising=False)
    assert load_registry().models == {}


def _plugin_module(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_plugin_that_exits_at_import_is_a_warning_not_the_end_of_the_cli(tmp_path, monkeypatch):
    _plugin_module(tmp_path, monkeypatch, "exiting", "import sys\nsys.exit(3)\n")
    monkeypatch.syspath_prepend(str(TOY_DIR))
    monkeypatch.setenv("MODELZOO_PLUGINS", "exiting,modelzoo_toy")
    registry = load_registry(autoload=False)
    assert "toy" in registry.models
    assert any("exiting" in w and "SystemExit" in w for w in registry.warnings)


HIJACKER = """
    from modelzoo import hookimpl
    from modelzoo.contract.api import MetricColumn, ModelSpec

    @hookimpl
    def modelzoo_models():
        return [ModelSpec(name="other", description="d", metric_columns=(), profiles={"p": {}},
                          default_profile="p")]

    @hookimpl
    def modelzoo_train_data(context):
        return "hijacked"          # answers for every model: the core must not ask it for toy's

    @hookimpl
    def modelzoo_build_model(context, data):
        raise ValueError("broken model code")

    @hookimpl
    def modelzoo_build_loss(context, data):
        return None

    @hookimpl
    def modelzoo_evaluate(context, network):
        return None

    @hookimpl
    def modelzoo_environment(model):
        raise RuntimeError("no sensor")
"""


def test_hooks_reach_only_the_plugin_that_owns_the_model(tmp_path, monkeypatch):
    from modelzoo.contract.api import RunContext

    _plugin_module(tmp_path, monkeypatch, "hijacker", HIJACKER)
    monkeypatch.syspath_prepend(str(TOY_DIR))
    monkeypatch.setenv("MODELZOO_PLUGINS", "hijacker,modelzoo_toy")
    registry = load_registry(autoload=False)
    spec = registry.model("toy")
    config = spec.profiles["default"]
    context = RunContext(model="toy", profile="default", config=config, data_root=tmp_path,
                         cache_dir=tmp_path, run_dir=tmp_path, device="cpu")
    data = registry.hooks_for("toy").modelzoo_train_data(context=context)
    assert data != "hijacked" and data.info["num_classes"] == 4


def test_an_exception_inside_a_hook_names_the_plugin_and_environment_failures_are_warnings(
        tmp_path, monkeypatch):
    from modelzoo.contract.api import RunContext
    from modelzoo.contract.plugins import PluginError

    _plugin_module(tmp_path, monkeypatch, "hijacker", HIJACKER)
    monkeypatch.setenv("MODELZOO_PLUGINS", "hijacker")
    registry = load_registry(autoload=False)
    context = RunContext(model="other", profile="p", config={}, data_root=tmp_path, cache_dir=tmp_path,
                         run_dir=tmp_path, device="cpu")
    with pytest.raises(PluginError, match="plugin 'hijacker' failed in modelzoo_build_model: "
                                          "ValueError: broken model code"):
        registry.hooks_for("other").modelzoo_build_model(context=context, data=None)
    assert registry.environment_facts("other") == {}
    assert any("hijacker" in w and "no sensor" in w for w in registry.warnings)


def test_core_defaults_are_applied_by_the_core_when_a_plugin_registers(tmp_path, monkeypatch):
    from modelzoo.contract.settings import CORE_DEFAULTS

    _plugin_module(tmp_path, monkeypatch, "hijacker", HIJACKER)
    monkeypatch.setenv("MODELZOO_PLUGINS", "hijacker")
    profile = load_registry(autoload=False).model("other").profiles["p"]
    assert profile["train"] == CORE_DEFAULTS["train"] and profile["optimizer"]["name"] == "adam"


def test_a_wrong_model_spec_names_the_plugin_not_unknown_model(tmp_path, monkeypatch):
    _plugin_module(tmp_path, monkeypatch, "wrongspec", """
        from modelzoo import hookimpl
        from modelzoo.contract.api import MetricColumn, ModelSpec

        @hookimpl
        def modelzoo_models():
            return [ModelSpec(name="wrong", description="d", profiles={"a": {}}, default_profile="b",
                              metric_columns=(MetricColumn("m", "M", format="{:>20000000}"),))]
        """)
    monkeypatch.setenv("MODELZOO_PLUGINS", "wrongspec")
    registry = load_registry(autoload=False)
    with pytest.raises(UserError) as failure:
        registry.model("wrong")
    message = str(failure.value)
    assert "unknown model" not in message and "wrongspec" in message
    assert "default_profile 'b'" in message and "format" in message


def test_a_declared_model_without_required_hooks_is_a_warning(tmp_path, monkeypatch):
    _plugin_module(tmp_path, monkeypatch, "partial", """
        from modelzoo import hookimpl
        from modelzoo.contract.api import ModelSpec

        @hookimpl
        def modelzoo_models():
            return [ModelSpec(name="partial", description="d", metric_columns=(), profiles={"p": {}},
                              default_profile="p")]
        """)
    monkeypatch.setenv("MODELZOO_PLUGINS", "partial")
    registry = load_registry(autoload=False)
    (warning,) = registry.warnings
    assert "'partial'" in warning and "modelzoo_train_data" in warning and "modelzoo_evaluate" in warning


def test_a_second_registration_of_the_same_module_does_not_take_its_name(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    import modelzoo_toy

    registry = load_registry(extra_plugins=[(modelzoo_toy, PluginInfo("first", "1")),
                                            (modelzoo_toy, PluginInfo("second", "2"))], autoload=False)
    assert registry.owners["toy"].name == "first"
    assert any("'second' ignored" in w for w in registry.warnings)


@pytest.mark.parametrize("bounds, problem", [
    ({"lowest": 1.0, "highest": 0.0}, "metric column 'm': lowest 1.0 is above highest 0.0"),
    ({"lowest": float("nan")}, "metric column 'm': lowest nan is not a finite number"),
    ({"highest": "1"}, "metric column 'm': highest '1' is not a finite number"),
])
def test_a_metric_columns_plausible_range_must_be_a_range(bounds, problem):
    spec = ModelSpec(name="m", description="d", profiles={"p": {}}, default_profile="p",
                     metric_columns=(MetricColumn("m", "M", **bounds),))
    assert problem in spec.problems()
    fine = ModelSpec(name="m", description="d", profiles={"p": {}}, default_profile="p",
                     metric_columns=(MetricColumn("m", "M", lowest=0.0, highest=1.0), MetricColumn("n", "N", lowest=0)))
    assert fine.problems() == []
