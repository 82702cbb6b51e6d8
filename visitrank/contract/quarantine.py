"""Set aside rows that break referential or business rules, and count them.

Coercion (``visitrank.contract.coercion``) guarantees types; this module guarantees that what is
left hangs together: every item has a brand and subcategory, every sale a known customer, every
sales line a clean header, and so on. Rows that fail a rule are *quarantined*: removed from the
clean tables, kept with a ``Reason`` so they can be counted, reported and fixed at source.
Nothing is silently dropped: for every table, rows in = clean rows + removed rows.

Rules are applied table by table in dependency order, each against the *clean* parents, so
problems cascade (a subcategory with an unknown category makes its items
``unknown_subcategory``; a conflicting sale header makes its lines ``header_quarantined``).
Within a table a row gets exactly one reason: the first rule that applies, in the order listed
in ``RULE_ORDER`` (and in ``docs/data-contract.md``).

Some rows are *reported but kept* (see ``KEPT_REASONS``):

* ``MV_SetupCustomer`` / ``unknown_rep``, ``no_gps``, ``gps_outlier``: outlets that cannot be
  put on a rep's list, because no known rep owns them (the RepId is empty or not in
  ``MV_SetupRep``), they have no usable coordinates (null, non-finite, out of range, or exactly
  (0, 0)), or their coordinates are far from every other outlet of their area (typically
  latitude and longitude swapped, see :data:`GPS_OUTLIER_FACTOR`). They get
  ``Routable = False`` and never appear in visit lists, but their sales are genuine peer data
  and still feed the benchmarks. Dropping them would bias every peer comparison.
* ``MV_SetupRep`` and ``MV_SetupCity`` / ``unknown_area``: the area is descriptive only (a
  customer carries its own AreaId). A rep with an unknown area is still the rep who owns those
  outlets, so removing it would wrongly orphan their customers and visits.
* ``MV_Visit`` / ``unknown_rep``: a visit by a rep who has left is still a visit the outlet
  had (its recency and the visit response count it), as a sale by a former rep is a sale.

An invalid *optional attribute* (``ATTRIBUTE_RULES``: a rep's home, an outlet's visit length or
frequency) never costs its row: the attribute is set to null in the clean table (the planner
then uses its default) and the row is reported once per invalid attribute, with a kept reason
(``invalid_home``, ``invalid_visit_minutes``, ``invalid_visit_frequency``). These are judged
after the row rules, on the rows that stay, so a customer kept as ``no_gps`` with an impossible
visit length is reported twice, once for each.

The optional tables (``MV_OutletHours``, ``MV_VisitPin``, ``MV_VisitExclusion``) follow the
rules of the other tables (repeated keys, ``unknown_customer``; hours that do not make an
interval are ``bad_hours``); a missing optional table is empty and a missing optional column
null (``visitrank.contract.tables.complete``), so data without them gives the same result as
before they existed. ``MV_VisitExclusion``'s own ``Reason`` column is ``ExclusionReason`` in
its set-aside rows (``SET_ASIDE_NAMES``), whose ``Reason`` is the quarantine's.

A repeated key never lets the rows' order decide which copy survives: a database has no row
order, and the Azure app reads the tables region by region (``visitrank.adapters.sql_source``),
so an order-dependent choice would differ between the drivers and between two exports of the
same data. When every copy of a key is identical, one is kept and the others are
``duplicate_key`` (``duplicate_sale_id``, ``duplicate_visit_id``): being identical, any copy
would do. When the copies differ, which one is right is unknowable, so *every* copy is set
aside: ``conflicting_key`` (``conflicting_sale_id``, ``conflicting_visit_id``). Customers listed
under several areas are ``several_areas`` before either rule applies.

Rows dated after the run's day (``future_date``: a mistyped year, a scheduled delivery) are set
aside when the caller says what day it is: they would otherwise move the planned week.

Pure and vectorised: every rule is a polars expression (``is_in`` against the clean parent
keys; repeated keys found with one sort, then their copies compared among those keys only); no
Python loop over rows.

The sales lines can be far larger than memory allows (``MV_SalesDetail`` has 5-10x the rows
of ``MV_Sales``), and every rule on a line looks only at that line and the clean headers and
items, never at other lines. So :func:`quarantine` is the composition of two steps that a
streaming caller (``visitrank.adapters.local_stage``) can run separately:
:func:`quarantine_headers` applies
the rules of every other table and returns, with them, the small :class:`DetailRules` (clean
sale ids, lost sale ids, clean item ids); :func:`quarantine_detail` then applies the
``MV_SalesDetail`` rules to the lines, whole or chunk by chunk, with the same result row for
row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import polars as pl

from visitrank.contract.errors import ContractError
from visitrank.contract.tables import (
    AREA,
    BRAND,
    CATEGORY,
    CHANNELS,
    CITY,
    CUSTOMER,
    ITEM,
    OPTIONAL_TABLES,
    OUTLET_HOURS,
    REP,
    SALES,
    SALES_DETAIL,
    SUBCATEGORY,
    TABLES,
    VISIT,
    VISIT_EXCLUSION,
    VISIT_PIN,
    TableSpec,
    complete,
)

GPS_OUTLIER_FACTOR: Final = 6.0
"""An outlet is a GPS outlier when its distance to its area's median point is more than this
many times the distance within which 75% of the area's outlets lie (and more than
:data:`GPS_OUTLIER_MIN_KM`). Areas are compact by design (a rep drives them), so a point six
times further out than the area's own spread is a typing error, not an outlet (swapped
latitude and longitude land hundreds of kilometres away). Measured on real coordinates (3,376
US airports grouped by state, far more ragged than sales territories:
``bench/real_data/gps_outliers.py``): no airport flagged as it is, and 300 of 300 randomly
swapped ones caught over 10 draws with no false positive; the 75th percentile rather than the
90th, because in a small area (6 airports in Rhode Island) the swapped points themselves
inflate the 90th."""
GPS_SPREAD_QUANTILE: Final = 0.75
GPS_OUTLIER_MIN_KM: Final = 50.0
"""Never an outlier within this distance of the area's median point, however tight the area."""
GPS_OUTLIER_MIN_OUTLETS: Final = 5
"""Areas with fewer located outlets have no shape to compare with: nobody is an outlier."""
EARTH_RADIUS_KM: Final = 6371.0

REASON: Final = "Reason"
ROUTABLE: Final = "Routable"

MAX_VISIT_MINUTES: Final = 480.0
"""The longest visit accepted (a working day): a longer ``VisitMinutes`` is a typing error
(hours or seconds typed as minutes), and a visit that takes the whole day plans nothing."""
MAX_VISIT_EVERY_WEEKS: Final = 52
"""The rarest visit frequency accepted (once a year)."""

ATTRIBUTE_RULES: Final[dict[str, tuple[str, ...]]] = {
    REP.name: ("invalid_home",),
    CUSTOMER.name: ("invalid_visit_minutes", "invalid_visit_frequency"),
}
"""Per table, the reasons of its optional attributes, in the order they are reported: the
attribute is set to null and the row kept (each is in ``KEPT_REASONS``)."""

UNROUTABLE_REASONS: Final = frozenset({"unknown_rep", "no_gps", "gps_outlier"})
"""The kept customer reasons that keep an outlet off every list (``Routable = False``)."""

KEPT_REASONS: Final[dict[str, frozenset[str]]] = {
    CUSTOMER.name: UNROUTABLE_REASONS | frozenset(ATTRIBUTE_RULES[CUSTOMER.name]),
    REP.name: frozenset({"unknown_area", *ATTRIBUTE_RULES[REP.name]}),
    CITY.name: frozenset({"unknown_area"}),
    VISIT.name: frozenset({"unknown_rep"}),
}
"""Reasons that are reported in ``Quarantined.rows`` but whose rows stay in the clean table."""

SET_ASIDE_NAMES: Final[dict[str, dict[str, str]]] = {
    VISIT_EXCLUSION.name: {"Reason": "ExclusionReason"},
}
"""Contract columns renamed in the set-aside rows, because their name is the quarantine's
``Reason`` column."""

RULE_ORDER: Final[dict[str, tuple[str, ...]]] = {
    AREA.name: ("conflicting_key", "duplicate_key"),
    CATEGORY.name: ("conflicting_key", "duplicate_key"),
    BRAND.name: ("conflicting_key", "duplicate_key"),
    SUBCATEGORY.name: ("conflicting_key", "duplicate_key", "unknown_category"),
    ITEM.name: ("conflicting_key", "duplicate_key", "unknown_brand", "unknown_subcategory"),
    CITY.name: ("conflicting_key", "duplicate_key", "unknown_area"),
    REP.name: ("conflicting_key", "duplicate_key", "unknown_area"),
    CUSTOMER.name: (
        "several_areas",
        "conflicting_key",
        "duplicate_key",
        "unknown_area",
        "unknown_channel",
        "unknown_rep",
        "no_gps",
        "gps_outlier",
    ),
    SALES.name: ("conflicting_sale_id", "duplicate_sale_id", "unknown_customer", "future_date"),
    SALES_DETAIL.name: (
        "header_quarantined",
        "unknown_sale",
        "unknown_item",
        "missing_quantity",
        "missing_amount",
        "non_finite_value",
    ),
    VISIT.name: (
        "conflicting_visit_id",
        "duplicate_visit_id",
        "unknown_customer",
        "future_date",
        "unknown_rep",
    ),
    OUTLET_HOURS.name: ("conflicting_key", "duplicate_key", "unknown_customer", "bad_hours"),
    VISIT_PIN.name: ("conflicting_key", "duplicate_key", "unknown_customer"),
    VISIT_EXCLUSION.name: ("conflicting_key", "duplicate_key", "unknown_customer"),
}
"""Per table, the reasons in the order they are tested; a row gets the first that applies.
(The optional attributes' reasons come after, see ``ATTRIBUTE_RULES``.)"""

Rules = list[tuple[str, pl.Expr]]


@dataclass(frozen=True)
class Quarantined:
    """Result of :func:`quarantine`.

    Attributes:
        tables: the clean tables, same keys as the input plus the optional tables it lacked
            (empty). ``MV_SetupCustomer`` gains a boolean ``Routable`` column and its
            ``Channel`` is trimmed and upper-cased; an invalid optional attribute is null.
        rows: per contract table, the set-aside rows: the contract columns (optional ones
            included, see ``set_aside_columns``) as they came in plus a ``Reason`` string.
            Includes reported-but-kept rows (``KEPT_REASONS``).
    """

    tables: dict[str, pl.DataFrame]
    rows: dict[str, pl.DataFrame]

    def counts(self) -> dict[str, dict[str, int]]:
        """Table → reason → number of rows, for every contract table (empty dict if clean)."""
        return {table: reason_counts(rows) for table, rows in self.rows.items()}

    def removed(self, table: str) -> int:
        """Rows of ``table`` taken out of the clean table (excludes reported-but-kept rows)."""
        kept = KEPT_REASONS.get(table, frozenset())
        return self.rows[table].filter(~pl.col(REASON).is_in(list(kept))).height


def quarantine(tables: dict[str, pl.DataFrame], today: date | None = None) -> Quarantined:
    """Split coerced contract tables into clean tables and quarantined rows.

    ``today``: the run's day; sales and visits dated after it are set aside as
    ``future_date``. None: no date is in the future (a backtest replaying the past).

    ``tables`` must hold every required contract table (as returned by ``coerce_table``); an
    optional table or column it lacks is empty or null (``tables.complete``); any extra
    tables are passed through unchanged. Raises ContractError if a required table or one of
    its columns is missing. Same as :func:`quarantine_headers` then :func:`quarantine_detail`
    on all the lines at once.
    """
    tables = complete(tables)
    check_inputs(tables, TABLES)
    headers, rules = quarantine_headers(
        {name: frame for name, frame in tables.items() if name != SALES_DETAIL.name}, today
    )
    clean_detail, detail_rows = quarantine_detail(tables[SALES_DETAIL.name], rules)
    return Quarantined(
        tables={
            name: clean_detail if name == SALES_DETAIL.name else headers.tables[name]
            for name in tables
        },
        rows={
            name: detail_rows if name == SALES_DETAIL.name else headers.rows[name]
            for name in RULE_ORDER
        },
    )


@dataclass(frozen=True)
class DetailRules:
    """What the ``MV_SalesDetail`` rules need from the other tables, once they are clean.

    Attributes:
        clean_sale_ids: ``SaleId`` of the clean ``MV_Sales`` headers (unique).
        lost_sale_ids: ``SaleId`` that had headers, all of them quarantined.
        clean_item_ids: ``ItemId`` of the clean ``MV_SetupItem`` rows.
    """

    clean_sale_ids: pl.Series
    lost_sale_ids: pl.Series
    clean_item_ids: pl.Series


def quarantine_headers(
    tables: dict[str, pl.DataFrame], today: date | None = None
) -> tuple[Quarantined, DetailRules]:
    """Apply the rules of every contract table but ``MV_SalesDetail``, in dependency order
    (``today`` as in :func:`quarantine`).

    ``tables`` must hold those ten tables (an ``MV_SalesDetail`` among them is ignored and left
    out of the result; the optional tables and columns it lacks are added empty or null;
    other extra tables pass through). Returns their clean tables and quarantined rows
    (``Quarantined`` without ``MV_SalesDetail``) and the :class:`DetailRules` for
    :func:`quarantine_detail`.
    """
    tables = complete(tables)
    check_inputs(tables, {n: s for n, s in TABLES.items() if n != SALES_DETAIL.name})
    check_inputs(tables, OPTIONAL_TABLES)
    split = _Splitter({name: frame for name, frame in tables.items() if name != SALES_DETAIL.name})
    for spec in (AREA, CATEGORY, BRAND):
        split.run(spec, _repeats(split, spec, "conflicting_key", "duplicate_key"))
    split.run(
        SUBCATEGORY,
        [
            *_repeats(split, SUBCATEGORY, "conflicting_key", "duplicate_key"),
            ("unknown_category", split.unknown("CategoryId", CATEGORY)),
        ],
    )
    split.run(
        ITEM,
        [
            *_repeats(split, ITEM, "conflicting_key", "duplicate_key"),
            ("unknown_brand", split.unknown("BrandId", BRAND)),
            ("unknown_subcategory", split.unknown("SubCategoryId", SUBCATEGORY)),
        ],
    )
    split.run(
        CITY,
        [
            *_repeats(split, CITY, "conflicting_key", "duplicate_key"),
            ("unknown_area", split.unknown("AreaId", AREA)),
        ],
    )
    _reps(split)
    _customers(split)
    rules = _sales(split, today)
    split.run(
        VISIT,
        [
            *_repeats(split, VISIT, "conflicting_visit_id", "duplicate_visit_id"),
            ("unknown_customer", split.unknown("CustomerId", CUSTOMER)),
            ("future_date", _after("VisitDate", today)),
            ("unknown_rep", split.unknown("RepId", REP)),
        ],
    )
    _planning_tables(split)
    return Quarantined(tables=split.clean, rows=split.rows), rules


def quarantine_detail(lines: pl.DataFrame, rules: DetailRules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply the ``MV_SalesDetail`` rules (``RULE_ORDER``) to coerced sales lines.

    ``lines`` may be the whole table or any chunk of it: each line is judged on its own, so
    the chunks' results, concatenated in order, equal the whole table's. Returns the clean
    lines and the quarantined lines (contract columns + ``Reason``), both in input order.
    """
    check_inputs({SALES_DETAIL.name: lines}, {SALES_DETAIL.name: SALES_DETAIL})
    quantity, amount = pl.col("Quantity"), pl.col("Amount")
    sale, item = pl.col("SaleId"), pl.col("ItemId")
    tagged = lines.with_columns(
        _first_reason(
            [
                ("header_quarantined", sale.is_in(rules.lost_sale_ids.implode())),
                ("unknown_sale", ~sale.is_in(rules.clean_sale_ids.implode())),
                ("unknown_item", ~item.is_in(rules.clean_item_ids.implode())),
                ("missing_quantity", quantity.is_null()),
                ("missing_amount", amount.is_null()),
                ("non_finite_value", ~quantity.is_finite() | ~amount.is_finite()),
            ]
        ).alias(REASON)
    )
    rows = tagged.filter(pl.col(REASON).is_not_null()).select([*SALES_DETAIL.column_names, REASON])
    return tagged.filter(pl.col(REASON).is_null()).drop(REASON), rows


def reason_counts(rows: pl.DataFrame) -> dict[str, int]:
    """Reason -> number of rows of one table's quarantined rows, sorted by reason."""
    grouped = rows.group_by(REASON).len().sort(REASON)
    reasons = grouped.get_column(REASON).to_list()
    return dict(zip(reasons, grouped.get_column("len").to_list(), strict=True))


class _Splitter:
    """Accumulates clean tables and quarantined rows while the rules run in order."""

    def __init__(self, tables: dict[str, pl.DataFrame]) -> None:
        self.source = tables
        self.clean: dict[str, pl.DataFrame] = dict(tables)
        self.rows: dict[str, pl.DataFrame] = {}

    def unknown(self, column: str, parent: TableSpec) -> pl.Expr:
        """True where ``column`` is not a key of the already-cleaned ``parent`` table."""
        (key,) = parent.key
        return ~pl.col(column).is_in(self.clean[parent.name].get_column(key).implode())

    def run(self, spec: TableSpec, rules: Rules) -> pl.DataFrame:
        """Tag rows with their first failing rule; store rows and clean table.

        ``rules`` must name the reasons of ``RULE_ORDER`` in its order (a ValueError naming
        both otherwise), so the documented order is the one applied. Returns the surviving
        rows *with* the ``Reason`` column (null, or a kept reason) so callers can derive flags
        such as ``Routable``.
        """
        reasons = tuple(reason for reason, _ in rules)
        if reasons != RULE_ORDER[spec.name]:
            raise ValueError(
                f"{spec.name}: rules {reasons} are not RULE_ORDER's {RULE_ORDER[spec.name]}"
            )
        tagged = self.source[spec.name].with_columns(_first_reason(rules).alias(REASON))
        self.rows[spec.name] = tagged.filter(pl.col(REASON).is_not_null()).select(
            [*set_aside_columns(spec), REASON]
        )
        kept = sorted(KEPT_REASONS.get(spec.name, frozenset()))
        survivors = tagged.filter(pl.col(REASON).is_null() | pl.col(REASON).is_in(kept))
        self.clean[spec.name] = survivors.drop(REASON)
        return survivors

    def attributes(
        self, spec: TableSpec, survivors: pl.DataFrame, rules: list[tuple[str, pl.Expr, list[str]]]
    ) -> pl.DataFrame:
        """Judge the optional attributes of the rows that stay (``survivors``): for each rule
        (reason, invalid, its columns), in ``ATTRIBUTE_RULES`` order (a ValueError otherwise),
        the rows where ``invalid`` holds are added to the set-aside rows with the reason, and
        the columns are set to null. Returns ``survivors`` so nulled (the row count is kept)."""
        reasons = tuple(reason for reason, _, _ in rules)
        if reasons != ATTRIBUTE_RULES[spec.name]:
            raise ValueError(
                f"{spec.name}: attribute rules {reasons} are not ATTRIBUTE_RULES' "
                f"{ATTRIBUTE_RULES[spec.name]}"
            )
        flags = [f"__invalid_{index}" for index in range(len(rules))]
        flagged = survivors.with_columns(
            invalid.fill_null(False).alias(flag)
            for (_, invalid, _), flag in zip(rules, flags, strict=True)
        )
        reported = [
            flagged.filter(pl.col(flag)).select(
                *set_aside_columns(spec), pl.lit(reason, dtype=pl.String).alias(REASON)
            )
            for (reason, _, _), flag in zip(rules, flags, strict=True)
        ]
        self.rows[spec.name] = pl.concat([self.rows[spec.name], *reported])
        nulled = [
            pl.when(pl.col(flag)).then(None).otherwise(pl.col(column)).alias(column)
            for (_, _, columns), flag in zip(rules, flags, strict=True)
            for column in columns
        ]
        return flagged.with_columns(nulled).drop(flags)


def _unusable_point(lat: pl.Expr, lon: pl.Expr) -> pl.Expr:
    """True for coordinates that locate nothing: either null, non-finite, out of range
    (|lat| > 90, |lon| > 180) or exactly (0, 0), a default an ERP writes for "unknown"."""
    return (
        lat.is_null()
        | lon.is_null()
        | ~lat.is_finite()
        | ~lon.is_finite()
        | (lat.abs() > 90)
        | (lon.abs() > 180)
        | ((lat == 0) & (lon == 0))
    )


def _reps(split: _Splitter) -> None:
    """The rep rules, then the home: given (either coordinate not null) but unusable, it is
    ``invalid_home`` and both coordinates are set to null (the rep starts from the first
    visit, as without a home)."""
    survivors = split.run(
        REP,
        [
            *_repeats(split, REP, "conflicting_key", "duplicate_key"),
            ("unknown_area", split.unknown("AreaId", AREA)),
        ],
    ).drop(REASON)
    lat, lon = pl.col("HomeLatitude"), pl.col("HomeLongitude")
    given = lat.is_not_null() | lon.is_not_null()
    split.clean[REP.name] = split.attributes(
        REP,
        survivors,
        [("invalid_home", given & _unusable_point(lat, lon), ["HomeLatitude", "HomeLongitude"])],
    )


def _customers(split: _Splitter) -> None:
    channel = pl.col("Channel").str.strip_chars().str.to_uppercase()
    no_gps = _unusable_point(pl.col("Latitude"), pl.col("Longitude"))
    survivors = split.run(
        CUSTOMER,
        [
            ("several_areas", _in_several_areas(split.source[CUSTOMER.name])),
            *_repeats(split, CUSTOMER, "conflicting_key", "duplicate_key"),
            ("unknown_area", split.unknown("AreaId", AREA)),
            ("unknown_channel", ~channel.is_in(list(CHANNELS))),
            ("unknown_rep", pl.col("RepId").is_null() | split.unknown("RepId", REP)),
            ("no_gps", no_gps),
            ("gps_outlier", _gps_outlier(~no_gps)),
        ],
    )
    minutes, weeks = pl.col("VisitMinutes"), pl.col("VisitEveryWeeks")
    routable = survivors.with_columns(pl.col(REASON).is_null().alias(ROUTABLE)).drop(REASON)
    judged = split.attributes(
        CUSTOMER,
        routable,
        [
            (
                "invalid_visit_minutes",
                minutes.is_not_null()
                & (~minutes.is_finite() | (minutes <= 0) | (minutes > MAX_VISIT_MINUTES)),
                ["VisitMinutes"],
            ),
            (
                "invalid_visit_frequency",
                weeks.is_not_null() & ~weeks.is_between(1, MAX_VISIT_EVERY_WEEKS),
                ["VisitEveryWeeks"],
            ),
        ],
    )
    split.clean[CUSTOMER.name] = judged.with_columns(channel.alias("Channel"))


def _gps_outlier(located: pl.Expr) -> pl.Expr:
    """True for an outlet far from the other outlets of its area (:data:`GPS_OUTLIER_FACTOR`):
    the distance to the area's median point against the area's own 75th-percentile distance.
    Medians, not means, so that the outliers do not drag the centre to themselves."""
    lat, lon = pl.col("Latitude"), pl.col("Longitude")
    centre_lat = lat.filter(located).median().over("AreaId")
    centre_lon = lon.filter(located).median().over("AreaId")
    # equirectangular distance: exact enough at the scale of an area, and vectorised
    dx = (lon - centre_lon).radians() * ((lat + centre_lat) / 2).radians().cos()
    dy = (lat - centre_lat).radians()
    distance = (dx.pow(2) + dy.pow(2)).sqrt() * EARTH_RADIUS_KM
    spread = distance.filter(located).quantile(GPS_SPREAD_QUANTILE, "linear").over("AreaId")
    enough = located.sum().over("AreaId") >= GPS_OUTLIER_MIN_OUTLETS
    return (
        located
        & enough
        & (distance > GPS_OUTLIER_MIN_KM)
        & (distance > GPS_OUTLIER_FACTOR * spread)
    )


def _after(column: str, today: date | None) -> pl.Expr:
    """True for a row dated after ``today`` (never when ``today`` is None)."""
    return pl.lit(False) if today is None else pl.col(column) > today


def _in_several_areas(customers: pl.DataFrame) -> pl.Expr:
    """True for every row of a CustomerId listed under more than one AreaId: which region the
    outlet belongs to is unknowable, so none of its rows is trusted (keeping the first row
    would depend on the file's order, which a database does not have)."""
    ambiguous = (
        customers.group_by("CustomerId")
        .agg(pl.col("AreaId").n_unique())
        .filter(pl.col("AreaId") > 1)
        .get_column("CustomerId")
    )
    if ambiguous.is_empty():
        return pl.lit(False)
    return pl.col("CustomerId").is_in(ambiguous.implode())


def _sales(split: _Splitter, today: date | None) -> DetailRules:
    split.run(
        SALES,
        [
            *_repeats(split, SALES, "conflicting_sale_id", "duplicate_sale_id"),
            ("unknown_customer", split.unknown("CustomerId", CUSTOMER)),
            ("future_date", _after("SaleDate", today)),
        ],
    )
    # SaleIds with no clean copy left: their lines follow the header into quarantine. An
    # identical duplicate keeps one clean copy, so its lines stay.
    clean_ids = split.clean[SALES.name].get_column("SaleId")
    lost_ids = split.rows[SALES.name].get_column("SaleId").unique()
    lost_ids = lost_ids.filter(~lost_ids.is_in(clean_ids.implode()))
    return DetailRules(
        clean_sale_ids=clean_ids,
        lost_sale_ids=lost_ids,
        clean_item_ids=split.clean[ITEM.name].get_column("ItemId"),
    )


def _planning_tables(split: _Splitter) -> None:
    """The optional tables of the reps' planning: repeated keys as every table's, rows of a
    customer that is not clean ``unknown_customer``, and hours that are no interval of a
    weekday (``Weekday`` outside 1..7, ``Closes`` not after ``Opens``) ``bad_hours``. An
    exclusion's own ``Reason`` is ``ExclusionReason`` while the rules run (the quarantine's
    ``Reason`` column would overwrite it) and in its set-aside rows."""
    renamed = SET_ASIDE_NAMES[VISIT_EXCLUSION.name]
    split.source[VISIT_EXCLUSION.name] = split.source[VISIT_EXCLUSION.name].rename(renamed)
    weekday, opens, closes = pl.col("Weekday"), pl.col("Opens"), pl.col("Closes")
    extra: dict[str, Rules] = {
        OUTLET_HOURS.name: [("bad_hours", ~weekday.is_between(1, 7) | (closes <= opens))]
    }
    for spec in (OUTLET_HOURS, VISIT_PIN, VISIT_EXCLUSION):
        split.run(
            spec,
            [
                *_repeats(split, spec, "conflicting_key", "duplicate_key"),
                ("unknown_customer", split.unknown("CustomerId", CUSTOMER)),
                *extra.get(spec.name, []),
            ],
        )
    split.clean[VISIT_EXCLUSION.name] = split.clean[VISIT_EXCLUSION.name].rename(
        {shown: column for column, shown in renamed.items()}
    )


def set_aside_columns(spec: TableSpec) -> list[str]:
    """The contract columns of ``spec``'s set-aside rows, in order (before ``Reason``): every
    column, optional ones included, renamed where ``SET_ASIDE_NAMES`` says."""
    names = SET_ASIDE_NAMES.get(spec.name, {})
    return [names.get(column, column) for column in spec.all_column_names]


def _repeats(split: _Splitter, spec: TableSpec, conflicting: str, duplicate: str) -> Rules:
    """The two rules on a repeated key of ``spec``, in this order, so that the rows' order
    never decides which copy survives:

    * ``conflicting``: every copy of a key whose copies are not all identical (more than one
      distinct row over the contract columns): which copy is right is unknowable, and a
      database has no row order to pick one by;
    * ``duplicate``: every copy but the first of a key whose copies are all identical (being
      identical, keeping any of them gives the same clean table).

    Only repeated keys can be either, so both are found among the rows of the keys that one
    sort shows repeated (:func:`_repeated_keys`): the same rows as
    ``pl.struct(columns).n_unique().over(key) > 1`` and ``~pl.col(key).is_first_distinct()``
    on the whole table, which hash every key (10 s and +2.2 GB, and 5.8 s, at 33M sale headers;
    measured; this: a sort, 0.24 s and +0.4 GB). A key of several columns (the small optional
    tables') is compared with those expressions on its columns.
    """
    frame = split.source[spec.name]
    columns = set_aside_columns(spec)
    if len(spec.key) > 1:
        keys = list(spec.key)
        return [
            (conflicting, pl.struct(columns).n_unique().over(keys) > 1),
            (duplicate, ~pl.struct(keys).is_first_distinct()),
        ]
    (key,) = spec.key
    repeated = _repeated_keys(frame, key)
    if repeated.is_empty():
        return [(conflicting, pl.lit(False)), (duplicate, pl.lit(False))]
    copies = frame.select(pl.int_range(pl.len()).alias("row"), *columns).filter(
        pl.col(key).is_in(repeated.implode(), nulls_equal=True)
    )
    differing = (
        copies.group_by(key)
        .agg(pl.struct(columns).n_unique().alias("versions"))
        .filter(pl.col("versions") > 1)
        .get_column(key)
    )
    later = copies.filter(~pl.col(key).is_first_distinct()).get_column("row")
    return [
        (conflicting, pl.col(key).is_in(differing.implode(), nulls_equal=True)),
        (duplicate, pl.int_range(pl.len()).is_in(later.implode())),
    ]


def _repeated_keys(frame: pl.DataFrame, key: str) -> pl.Series:
    """The values of ``key`` occurring more than once, null included (one sort, then each key
    against its neighbour: 0.24 s for 33M sale ids, where hashing every key takes seconds)."""
    keys = frame.get_column(key).sort()
    later = keys.slice(1)
    return later.filter(later.eq_missing(keys.slice(0, max(keys.len() - 1, 0)))).unique()


def _first_reason(rules: Rules) -> pl.Expr:
    """The reason of the first rule whose condition is true (null condition = false), else null."""
    reason_expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for reason, condition in reversed(rules):
        reason_expr = pl.when(condition).then(pl.lit(reason)).otherwise(reason_expr)
    return reason_expr


def check_inputs(tables: dict[str, pl.DataFrame], specs: dict[str, TableSpec] = TABLES) -> None:
    """ContractError for the first table of ``specs`` missing from ``tables`` or missing one of
    its required contract columns (in ``specs`` order)."""
    for name, spec in specs.items():
        if name not in tables:
            raise ContractError.at(name, "table missing: quarantine needs every contract table")
        missing = [c for c in spec.columns if c not in tables[name].columns]
        if missing:
            raise ContractError.at(
                name,
                f"missing column(s) {', '.join(missing)}; run coerce_table before quarantine",
            )
