"""The input data contract: the MV_ views visitrank reads, their columns and types.

One place names every table and column so that the file source, the SQL source, the demo
generator and the validation all agree. Extra columns in the source are ignored.

The contract grew optional inputs for the planning of reps' weeks in time (a rep's home, an
outlet's visit length and frequency, opening hours, appointments, exclusions). Data without
them must behave exactly as before, so they are *optional*: an optional column
(``TableSpec.optional``) may be missing from its table and is then a null column; an optional
table (:data:`OPTIONAL_TABLES`) may be missing from the source and is then an empty table
(:func:`complete`). :data:`TABLES` stays the eleven tables every source must have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import polars as pl


@dataclass(frozen=True)
class TableSpec:
    """A contract table: its columns with their polars types, primary key and nullable columns.

    ``optional``: columns (with their types) that a source may lack; absent, they read as null.
    They are always nullable, never part of the key, and come after ``columns`` in
    :attr:`all_columns`.
    """

    name: str
    columns: dict[str, pl.DataType]
    key: tuple[str, ...]
    nullable: frozenset[str] = frozenset()
    optional: dict[str, pl.DataType] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        """The required columns (those every source must have), in contract order."""
        return list(self.columns)

    @property
    def all_columns(self) -> dict[str, pl.DataType]:
        """Every contract column with its type: the required ones, then the optional ones."""
        return {**self.columns, **self.optional}

    @property
    def all_column_names(self) -> list[str]:
        """Every contract column, required then optional: the columns of a coerced table."""
        return list(self.all_columns)


ID = pl.Int64()
TEXT = pl.String()
FLOAT = pl.Float64()
DATE = pl.Date()
TIME = pl.Time()

AREA: Final = TableSpec("MV_SetupArea", {"AreaId": ID, "AreaName": TEXT}, ("AreaId",))
CITY: Final = TableSpec("MV_SetupCity", {"CityId": ID, "CityName": TEXT, "AreaId": ID}, ("CityId",))
REP: Final = TableSpec(
    "MV_SetupRep",
    {"RepId": ID, "RepName": TEXT, "AreaId": ID},
    ("RepId",),
    optional={"HomeLatitude": FLOAT, "HomeLongitude": FLOAT},
)
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
    optional={"VisitMinutes": FLOAT, "VisitEveryWeeks": ID},
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

OUTLET_HOURS: Final = TableSpec(
    "MV_OutletHours",
    {"CustomerId": ID, "Weekday": ID, "Opens": TIME, "Closes": TIME},
    ("CustomerId", "Weekday", "Opens"),
)
"""When an outlet is open: one row per interval of a weekday (ISO, 1 = Monday .. 7 = Sunday), so
a split shift is two rows. An outlet with rows is open only then (a weekday without rows is a
closed day); an outlet without rows is open whenever the rep works."""
VISIT_PIN: Final = TableSpec(
    "MV_VisitPin",
    {"CustomerId": ID, "VisitDate": DATE},
    ("CustomerId", "VisitDate"),
    optional={"StartTime": TIME, "Note": TEXT},
)
"""An appointment or a manager's pin: visit the outlet on that date (at that time, if given).
``StartTime`` and ``Note`` may be null, or missing from the source."""
VISIT_EXCLUSION: Final = TableSpec(
    "MV_VisitExclusion",
    {"CustomerId": ID, "Until": DATE},
    ("CustomerId", "Until"),
    optional={"Reason": TEXT},
)
"""Do not send a rep to the outlet before ``Until`` (a closure, a dispute, a stock problem).
``Reason`` may be null, or missing from the source."""

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

OPTIONAL_TABLES: Final[dict[str, TableSpec]] = {
    spec.name: spec for spec in (OUTLET_HOURS, VISIT_PIN, VISIT_EXCLUSION)
}
"""The tables a source may lack (read as empty): the planning inputs of the reps' weeks."""

ALL_TABLES: Final[dict[str, TableSpec]] = {**TABLES, **OPTIONAL_TABLES}
"""Every contract table, the required ones first."""

CHANNELS: Final = ("ON_TRADE", "OFF_TRADE")


def empty_table(spec: TableSpec) -> pl.DataFrame:
    """A table of ``spec`` without rows: every contract column (optional ones included), typed."""
    return pl.DataFrame(schema=spec.all_columns)


def with_optional_columns(spec: TableSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each optional column of ``spec`` it lacks added as a typed null column."""
    missing = [
        pl.lit(None, dtype=dtype).alias(column)
        for column, dtype in spec.optional.items()
        if column not in frame.columns
    ]
    return frame.with_columns(missing) if missing else frame


def complete(tables: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """``tables`` with what optional is absent filled in: each optional table missing added
    empty (:func:`empty_table`), each optional column missing from a contract table added as a
    null column. Other tables pass through unchanged, in their order (added tables last)."""
    completed = {
        name: with_optional_columns(ALL_TABLES[name], frame) if name in ALL_TABLES else frame
        for name, frame in tables.items()
    }
    for name, spec in OPTIONAL_TABLES.items():
        if name not in completed:
            completed[name] = empty_table(spec)
    return completed
