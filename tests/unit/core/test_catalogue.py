from __future__ import annotations

import pytest

from ccp_core.catalogue import Catalogue, page_params, read_pricing_file
from ccp_core.errors import InvalidRequest, NotFound

MODELS = {
    f"claude-m{i}": {"display_name": f"M{i}", "created_at": f"2025-01-{i:02d}T00:00:00Z"}
    for i in range(1, 6)
}


def ids(page: dict[str, object]) -> list[str]:
    data = page["data"]
    assert isinstance(data, list)
    return [item["id"] for item in data]


def test_newest_first_in_the_anthropic_list_shape() -> None:
    page = Catalogue.build(MODELS).page(2, None, None)
    assert page == {
        "data": [
            {
                "type": "model",
                "id": "claude-m5",
                "display_name": "M5",
                "created_at": "2025-01-05T00:00:00Z",
            },
            {
                "type": "model",
                "id": "claude-m4",
                "display_name": "M4",
                "created_at": "2025-01-04T00:00:00Z",
            },
        ],
        "has_more": True,
        "first_id": "claude-m5",
        "last_id": "claude-m4",
    }


def test_after_id_pages_forward_to_the_end() -> None:
    catalogue = Catalogue.build(MODELS)
    page = catalogue.page(2, "claude-m4", None)
    assert ids(page) == ["claude-m3", "claude-m2"] and page["has_more"] is True
    last = catalogue.page(2, "claude-m2", None)
    assert ids(last) == ["claude-m1"] and last["has_more"] is False


def test_before_id_pages_backward() -> None:
    catalogue = Catalogue.build(MODELS)
    page = catalogue.page(2, None, "claude-m2")
    assert ids(page) == ["claude-m4", "claude-m3"] and page["has_more"] is True
    first = catalogue.page(2, None, "claude-m4")
    assert ids(first) == ["claude-m5"] and first["has_more"] is False


def test_empty_page_has_null_ids() -> None:
    page = Catalogue.build(MODELS).page(5, "claude-m1", None)
    assert page == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_unknown_cursor_is_a_clear_400() -> None:
    with pytest.raises(InvalidRequest, match="after_id"):
        Catalogue.build(MODELS).page(5, "nope", None)


def test_config_only_models_are_listed_after_dated_ones() -> None:
    catalogue = Catalogue.build(MODELS, extra_ids=["my-custom"])
    assert ids(catalogue.page(1000, None, None))[-1] == "my-custom"


# Superscript two, Arabic-Indic three, full-width one: str.isdigit() but not ASCII digits.
@pytest.mark.parametrize(
    "raw", ["0", "1001", "-1", "abc", "2.5", "", "\u00b2", "\u0663", "\uff11", "1\u00b2"]
)
def test_bad_limits_are_refused(raw: str) -> None:
    with pytest.raises(InvalidRequest, match="limit"):
        page_params({"limit": raw})


def test_limit_defaults_to_20_and_both_cursors_are_refused() -> None:
    assert page_params({}) == (20, None, None)
    assert page_params({"limit": " 7 "}) == (7, None, None)
    assert page_params({"limit": "1000", "after_id": "a"}) == (1000, "a", None)
    with pytest.raises(InvalidRequest):
        page_params({"after_id": "a", "before_id": "b"})


def test_built_in_catalogue_lists_claude_code_default_model() -> None:
    models = read_pricing_file()
    assert "claude-opus-5-5" in models
    for info in models.values():
        assert {"display_name", "created_at", "input", "output"} <= set(info)


def test_one_model_is_found_by_id_or_is_not_found() -> None:
    catalogue = Catalogue.build(MODELS)
    assert catalogue.get("claude-m3").as_json() == {
        "type": "model",
        "id": "claude-m3",
        "display_name": "M3",
        "created_at": "2025-01-03T00:00:00Z",
    }
    with pytest.raises(NotFound, match="claude-nope"):
        catalogue.get("claude-nope")
