"""Value mapping: an ERP's codes mapped to the contract's, the rest left to the quarantine."""

from __future__ import annotations

import polars as pl
import pytest

from visitrank.contract.errors import ContractError
from visitrank.contract.value_map import checked_value_map, map_values


def test_mapped_codes_become_contract_values_and_are_counted() -> None:
    values = checked_value_map({"Channel": {"horeca": "on_trade", " Retail ": "OFF_TRADE"}})
    assert values == {"Channel": {"HORECA": "ON_TRADE", "RETAIL": "OFF_TRADE"}}
    customers = pl.DataFrame(
        {"CustomerId": [1, 2, 3, 4], "Channel": ["HORECA", " retail", "ON_TRADE", "KIOSK"]}
    )
    mapped, counts = map_values({"MV_SetupCustomer": customers, "Other": pl.DataFrame()}, values)
    assert mapped["MV_SetupCustomer"].get_column("Channel").to_list() == [
        "ON_TRADE",
        "OFF_TRADE",
        "ON_TRADE",
        "KIOSK",  # unknown: left for the quarantine to set aside and report
    ]
    assert counts == {"Channel": {"HORECA": 1, "RETAIL": 1}}
    assert mapped["Other"].equals(pl.DataFrame())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"RepName": {"a": "b"}}, "'RepName' is not a coded column"),
        ({"Channel": {"HORECA": "BARS"}}, "HORECA = 'BARS': not a contract value"),
    ],
)
def test_a_bad_mapping_names_the_file_column_and_value(
    values: dict[str, dict[str, str]], message: str
) -> None:
    with pytest.raises(ContractError, match=message) as caught:
        checked_value_map(values, "data/visitrank-source.toml")
    assert str(caught.value).startswith("data/visitrank-source.toml: [values.")
