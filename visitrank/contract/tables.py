"""The input data contract: the MV_ views visitrank reads, their columns and types.

One place names every table and column so that the file source, the SQL source, the demo
generator and the validation all agree. Extra columns in the source are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl


@dataclass(frozen=True)
class TableSpec:
    """A contract table: its columns with their polars types, primary key and nullable columns."""

    name: str
    columns: dict[str, pl.DataType]
    key: tuple[str, ...]
    nullable: frozenset[str] = frozenset()

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)


ID = pl.Int64()
TEXT = pl.String()
FLOAT = pl.Float64()
DATE = pl.Date()

AREA: Final = TableSpec("MV_SetupArea", {"AreaId": ID, "AreaName": TEXT}, ("AreaId",))
CITY: Final = TableSpec("MV_SetupCity", {"CityId": ID, "CityName": TEXT, "AreaId": ID}, ("CityId",))
REP: Final = TableSpec("MV_SetupRep", {"RepId": ID, "RepName": TEXT, "AreaId": ID}, ("RepId",))
CUSTOMER: Final = TableSpec(
    "MV_SetupCustomer",
    {
        "CustomerId": ID,
        "CustomerName": TEXT,
        "CityId": ID,
        "AreaId": ID,
        "Latitude": FLOAT,
        "Longitude": FLOAT,
        "Channel": TEXT,
        "RepId": ID,
    },
    ("CustomerId",),
    nullable=frozenset({"Latitude", "Longitude", "CityId", "RepId"}),
)
CATEGORY: Final = TableSpec(
    "MV_SetupCategory", {"CategoryId": ID, "CategoryName": TEXT}, ("CategoryId",)
)
SUBCATEGORY: Final = TableSpec(
    "MV_SetupSubCategory",
    {"SubCategoryId": ID, "SubCategoryName": TEXT, "CategoryId": ID},
    ("SubCategoryId",),
)
BRAND: Final = TableSpec("MV_SetupBrand", {"BrandId": ID, "BrandName": TEXT}, ("BrandId",))
ITEM: Final = TableSpec(
    "MV_SetupItem",
    {"ItemId": ID, "ItemName": TEXT, "BrandId": ID, "SubCategoryId": ID, "UnitPrice": FLOAT},
    ("ItemId",),
)
SALES: Final = TableSpec(
    "MV_Sales",
    {"SaleId": ID, "CustomerId": ID, "SaleDate": DATE, "RepId": ID},
    ("SaleId",),
    nullable=frozenset({"RepId"}),
)
SALES_DETAIL: Final = TableSpec(
    "MV_SalesDetail",
    {"SaleId": ID, "ItemId": ID, "Quantity": FLOAT, "Amount": FLOAT},
    (),
    nullable=frozenset({"Quantity", "Amount"}),
)
VISIT: Final = TableSpec(
    "MV_Visit",
    {"VisitId": ID, "CustomerId": ID, "RepId": ID, "VisitDate": DATE},
    ("VisitId",),
)

TABLES: Final[dict[str, TableSpec]] = {
    spec.name: spec
    for spec in (
        AREA,
        CITY,
        REP,
        CUSTOMER,
        CATEGORY,
        SUBCATEGORY,
        BRAND,
        ITEM,
        SALES,
        SALES_DETAIL,
        VISIT,
    )
}

CHANNELS: Final = ("ON_TRADE", "OFF_TRADE")
