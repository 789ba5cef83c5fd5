"""Plugin discovery: real entry points, broken plugins as warnings, hermetic switch."""

from __future__ import annotations

import textwrap
from pathlib import Path

from modelzoo.plugins import load_registry

from toy_helpers import TOY_DIR


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
    assert list(registry.models) == ["toy"]
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
