from __future__ import annotations

import pytest

from ccp_data.cost import cost_of
from ccp_data.pricing import PriceTable, builtin_catalogue, load_price_table
from ccp_shared.config import ModelPrice

MILLION = 1_000_000


PRICES = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")


def test_every_catalogue_entry_is_complete_and_cache_prices_follow_the_rules() -> None:
    for model, entry in builtin_catalogue().items():
        assert model.startswith("claude-")
        assert entry["display_name"] and entry["created_at"].endswith("Z")
        prices = [entry[name] for name in PRICES]
        if all(price is None for price in prices):
            continue  # listed for /v1/models; no published price, so its cost shows as unknown
        assert None not in prices
        # Published prices follow these ratios, rounded to the cent for the oldest models
        # (Haiku 3 reads at $0.03 and writes at $0.30 on a $0.25 input price).
        assert entry["cache_read"] == pytest.approx(entry["input"] * 0.1, rel=0.25)
        assert entry["cache_write_5m"] == pytest.approx(entry["input"] * 1.25, rel=0.05)
        assert entry["cache_write_1h"] == pytest.approx(entry["input"] * 2)
        assert entry["output"] == pytest.approx(entry["input"] * 5)


def test_a_listed_model_without_a_published_price_costs_unknown(pricing: PriceTable) -> None:
    # Claude Code 2.1.328's default model: listed in the catalogue, price not published.
    usage = {"input_tokens": 14, "cache_creation_input_tokens": 3074, "output_tokens": 10}
    assert cost_of(pricing, "claude-opus-5-5", usage) is None


def test_plain_input_and_output(pricing: PriceTable) -> None:
    usage = {"input_tokens": MILLION, "output_tokens": MILLION}
    assert cost_of(pricing, "claude-sonnet-4-5", usage) == pytest.approx(3.0 + 15.0)
    assert cost_of(pricing, "claude-opus-4-1", usage) == pytest.approx(15.0 + 75.0)
    assert cost_of(pricing, "claude-haiku-4-5", usage) == pytest.approx(1.0 + 5.0)


def test_cache_reads_and_writes_are_priced_apart_from_input(pricing: PriceTable) -> None:
    usage = {
        "input_tokens": 0,
        "cache_read_input_tokens": MILLION,
        "cache_creation_input_tokens": 2 * MILLION,
        "cache_creation_1h_tokens": MILLION,
    }
    # 1M read at 0.30, 1M 5-minute write at 3.75, 1M 1-hour write at 6.00.
    assert cost_of(pricing, "claude-sonnet-4-5", usage) == pytest.approx(0.30 + 3.75 + 6.0)


def test_cache_writes_without_a_split_are_five_minute_writes(pricing: PriceTable) -> None:
    usage = {"cache_creation_input_tokens": MILLION}
    assert cost_of(pricing, "claude-sonnet-4-5", usage) == pytest.approx(3.75)


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5[1m]",
        "anthropic/claude-sonnet-4-5",
        "claude-sonnet-4-5-latest",
    ],
)
def test_decorated_ids_match_their_base_model(pricing: PriceTable, model: str) -> None:
    assert cost_of(pricing, model, {"output_tokens": MILLION}) == pytest.approx(15.0)


def test_unknown_model_costs_none_not_zero(pricing: PriceTable) -> None:
    assert cost_of(pricing, "glm-4.6", {"input_tokens": 10}) is None
    assert cost_of(pricing, None, {"input_tokens": 10}) is None


def test_no_tokens_cost_nothing_whatever_the_model(pricing: PriceTable) -> None:
    assert cost_of(pricing, "glm-4.6", {"input_tokens": 0, "output_tokens": None}) == 0.0


def test_an_override_of_the_base_id_applies_to_dated_ids() -> None:
    table = load_price_table({"claude-haiku-4-5": ModelPrice(input=2.0)})
    usage = {"input_tokens": MILLION}
    assert cost_of(table, "claude-haiku-4-5-20251001", usage) == pytest.approx(2.0)


def test_config_overrides_replace_single_fields_and_add_models() -> None:
    table = load_price_table(
        {
            "claude-sonnet-4-5": ModelPrice(output=20.0),
            "glm-4.6": ModelPrice(input=0.6, output=2.2),
        }
    )
    sonnet = {"input_tokens": MILLION, "output_tokens": MILLION}
    assert cost_of(table, "claude-sonnet-4-5", sonnet) == pytest.approx(3.0 + 20.0)
    assert cost_of(table, "glm-4.6", sonnet) == pytest.approx(0.6 + 2.2)
    # A price the override lacks makes the cost unknown when those tokens were used.
    assert cost_of(table, "glm-4.6", {"cache_read_input_tokens": 5}) is None


def test_sqlite_rows_work_as_usage(pricing: PriceTable) -> None:
    import sqlite3

    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT 1000000 AS input_tokens, NULL AS output_tokens").fetchone()
    assert cost_of(pricing, "claude-haiku-4-5", row) == pytest.approx(1.0)
