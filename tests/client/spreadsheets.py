"""A supplier's spreadsheet as Excel saves it: origins of lots and their transfers."""

from __future__ import annotations

import csv

HEADER = ["Type", "Batch", "Occurred_At", "Material", "Quantity", "Unit", "Value_Added_USD", "Minerals",
          "Activity", "Site_Name", "Site_Country", "To"]  # fmt: skip
LOTS = 10


def excel_rows(broken: dict[int, tuple[str, str]]) -> list[list[str]]:
    """Origins of lots and, on the next line, their transfer to the refiner."""
    rows = []
    for lot in range(1, LOTS + 1):
        when = f"2024-03-{lot:02d}T08:00:00Z"
        rows.append(["origin", f"pilbara-mining:lot-{lot}", when, "spodumene", "100", "kg", "120", "lithium=6",
                     "extraction", "Pilgangoora", "AU", ""])  # fmt: skip
        rows.append(["transfer", f"pilbara-mining:lot-{lot}", when, "", "", "", "", "", "", "", "", "kansai-refining"])
    for line, (column, value) in broken.items():
        rows[line - 2][HEADER.index(column)] = value
    return rows


def write_excel(path, rows: list[list[str]]):
    """As Excel saves "CSV UTF-8" in a `;` locale: a byte-order mark, `;`, capitalised headers."""
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path
