"""The report's catalogue section on its own: filters without scripts, values escaped, CSS names slugs."""

from __future__ import annotations

from modelzoo.report.catalogue_section import catalogue_section


def _row(model: str, category: str, framework: str, gpus: list[str], runnable: str = "") -> dict:
    return {"key": f"{category}/{model}/{framework}", "model": model, "framework": framework, "category": category,
            "gpus": gpus, "newest_sdk": "4.3.0", "release": "25.12", "readme": "", "runnable": runnable,
            "zoo_model": model if runnable else "",
            "references": [{"gpu": gpus[0], "cards": 8, "fps": 100.0, "fps_unit": "FPS", "metrics": {"map": 0.5}}]}


def test_one_filter_per_category_framework_and_card():
    section = catalogue_section([_row("yolo", "cv/detection", "pytorch", ["BI-V100", "BI-V150"]),
                                 _row("bert", "nlp/language_model", "paddlepaddle", ["BI-V100"], "recipe")])
    page = str(section.html())
    for option in ("cv", "cv-detection", "nlp", "nlp-language-model"):
        assert f'id="zc-cat-{option}"' in page
        assert f'#zc-cat-{option}:checked ~ table tbody tr:not([data-cat~="{option}"]){{display:none}}' in page
    assert 'id="zc-fw-paddlepaddle"' in page and 'id="zc-gpu-bi-v150"' in page
    assert '<tr data-cat="cv cv-detection" data-fw="pytorch" data-gpu="bi-v100 bi-v150">' in page
    assert "<script" not in page and page.count('name="zc-fw"') == 3   # all, paddlepaddle, pytorch
    markdown = section.markdown()
    assert "2 models of the zoo's catalogue, 1 of them runnable here" in markdown
    assert "| bert (paddlepaddle) | nlp/language_model | paddlepaddle | BI-V100 " in markdown
    assert "recipe (bert)" in markdown


def test_values_are_escaped_and_names_are_slugs():
    section = catalogue_section([_row("<img src=x onerror=alert(1)>", "cv/x\"y", "py<t>", ["BI-V100\"><b>"])])
    page = str(section.html())
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'data-fw="py-t"' in page and 'id="zc-gpu-bi-v100-b"' in page and "<b>" not in page


def test_no_catalogue_no_section():
    assert catalogue_section([]) is None
