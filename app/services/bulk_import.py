"""Recipients of a campaign from what shops have: a CSV export, pasted numbers. Pure, no database.

Excel in Spanish saves "CSV" with `;` and in Windows-1252; Google Sheets with `,` and UTF-8;
"Unicode text" is UTF-16 with tabs. All are read. Every row that cannot be sent to is reported
with its row number and why, never dropped silently: a shop must be able to fix its list.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from app.errors import Invalid
from app.services import phones
from app.sqlite import fold
from app.text import clean_text

MAX_FILE_BYTES: Final = 1_000_000  # ~20 000 rows of a typical export; the API body limit is 1 MiB
MAX_ROWS: Final = 10_000  # recipients of one campaign: past this, split the list (and the risk)
MAX_COLUMNS: Final = 30  # variables a message can use; wider sheets are not recipient lists
MAX_CELL: Final = 500  # characters of one cell kept as a variable
PREVIEW_COUNT: Final = 3  # rendered messages shown before starting

# Header names (folded: no case, no accents) that hold the phone number / the person's name.
PHONE_HEADERS: Final = ("telefono", "fono", "phone", "celular", "cel", "movil", "whatsapp", "wsp",
                        "numero", "mobile", "tel", "telephone", "phone number", "numero de telefono",
                        "telefono movil", "nro", "n telefono")
NAME_HEADERS: Final = ("nombre", "name", "cliente", "contacto", "nombre completo", "full name",
                       "first name", "nombres", "razon social")
DELIMITERS: Final = (";", ",", "\t")
_VARIABLE = re.compile(r"\{\{\s*([^{}]{1,60}?)\s*\}\}")
_PASTE_SPLIT = re.compile(r"[\n;,\t]+")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A sendable row: phone as E.164 digits, name, the other columns as variables."""

    row: int
    phone: str
    display: str
    name: str
    vars: dict[str, str]

    def public(self) -> dict[str, object]:
        """As POST /bulk and the preview take it."""
        return {"row": self.row, "phone": self.phone, "display": self.display, "name": self.name,
                "vars": self.vars}


@dataclass(frozen=True, slots=True)
class Problem:
    """A row that will not be sent to, and why (a phones.REASONS code or `duplicate`)."""

    row: int
    value: str
    reason: str
    first_row: int | None = None  # duplicates: the row that is kept

    def public(self) -> dict[str, object]:
        """For the problems table."""
        out: dict[str, object] = {"row": self.row, "value": self.value, "reason": self.reason}
        if self.first_row is not None:
            out["first_row"] = self.first_row
        return out


@dataclass(slots=True)
class Import:
    """What a file or a paste gave."""

    recipients: list[Recipient] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # variable names, in file order
    phone_column: str | None = None
    name_column: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    rows: int = 0  # data rows read (blank lines not counted)

    def counts(self) -> dict[str, int]:
        """Totals for the summary line."""
        dup = sum(1 for p in self.problems if p.reason == "duplicate")
        return {"rows": self.rows, "valid": len(self.recipients), "invalid": len(self.problems) - dup,
                "duplicate": dup}


def key(name: str) -> str:
    """A column name as a variable name: "Fecha de cita" -> "fecha_de_cita"."""
    return re.sub(r"[^a-z0-9]+", "_", fold(name.strip()) or "").strip("_")


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was in: UTF-8 (BOM or not), UTF-16 with BOM, else Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Excel's "CSV" on Windows: cp1252 is Latin-1 plus curly quotes and the euro sign in 0x80-0x9f;
    # the five bytes cp1252 leaves undefined mean plain Latin-1.
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number (>1) of fields most often."""
    sample = [line for line in text.splitlines()[:30] if line.strip()]
    best, best_score = ";", (0, 0)
    for delimiter in DELIMITERS:
        widths = [len(row) for row in csv.reader(sample, delimiter=delimiter)]
        width, hits = Counter(widths).most_common(1)[0] if widths else (1, 0)
        score = (hits if width > 1 else 0, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _find(headers: list[str], names: tuple[str, ...]) -> int | None:
    folded = [fold(h.strip()) or "" for h in headers]
    for wanted in names:  # exact names first, in our order of preference
        if wanted in folded:
            return folded.index(wanted)
    for i, h in enumerate(folded):  # then a header that contains one ("Teléfono celular 1")
        if any(re.search(rf"\b{re.escape(w)}\b", h) for w in names if len(w) > 3):
            return i
    return None


def _looks_like_phone(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits >= 6 and digits >= len(cell.strip()) * 0.6


def _add(result: Import, seen: dict[str, int], row: int, raw: str, name: str, variables: dict[str, str],
         country: str) -> None:
    try:
        phone = phones.normalize(raw, country)
    except phones.PhoneError as err:
        result.problems.append(Problem(row, raw.strip()[:60], err.reason))
        return
    if phone.digits in seen:
        result.problems.append(Problem(row, raw.strip()[:60], "duplicate", seen[phone.digits]))
        return
    seen[phone.digits] = row
    result.recipients.append(Recipient(row, phone.digits, phone.display, name, variables))


def parse_csv(data: bytes, country: str) -> Import:
    """Recipients and problems of a CSV file; Invalid when it is not a usable list at all."""
    if len(data) > MAX_FILE_BYTES:
        raise Invalid(f"file over {MAX_FILE_BYTES} bytes", code="file_too_large", limit=MAX_FILE_BYTES)
    text, encoding = decode(data)
    text = clean_text(text)
    delimiter = sniff_delimiter(text)
    rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)
            if any(cell.strip() for cell in r)]
    if not rows:
        raise Invalid("the file is empty", code="empty_file")
    result = Import(delimiter=delimiter, encoding=encoding)
    first = rows[0][1]
    phone_at = _find(first, PHONE_HEADERS)
    if phone_at is not None:
        headers, rows = first, rows[1:]
    elif _looks_like_phone(first[0]):  # no header row: phone first, then the name if any
        headers = ["telefono", "nombre"][:len(first)] + [f"col{i + 1}" for i in range(2, len(first))]
        phone_at = 0
    else:
        raise Invalid("no column with phone numbers (name it telefono, phone, celular or whatsapp)",
                      code="no_phone_column", columns=[h.strip() for h in first][:MAX_COLUMNS])
    if len(headers) > MAX_COLUMNS:
        raise Invalid(f"more than {MAX_COLUMNS} columns", code="too_many_columns", limit=MAX_COLUMNS)
    if len(rows) > MAX_ROWS:
        raise Invalid(f"more than {MAX_ROWS} rows", code="too_many_rows", limit=MAX_ROWS)
    name_at = _find(headers, NAME_HEADERS)
    keys = [key(h) or f"col{i + 1}" for i, h in enumerate(headers)]
    result.phone_column = headers[phone_at].strip()
    result.name_column = headers[name_at].strip() if name_at is not None else None
    result.columns = [k for i, k in enumerate(keys) if i != phone_at]
    result.rows = len(rows)
    seen: dict[str, int] = {}
    for number, cells in rows:
        cells = cells + [""] * (len(headers) - len(cells))
        variables = {k: cells[i].strip()[:MAX_CELL] for i, k in enumerate(keys) if i != phone_at}
        name = cells[name_at].strip()[:100] if name_at is not None else ""
        _add(result, seen, number, cells[phone_at], name, variables, country)
    return result


def parse_pasted(text: str, country: str) -> Import:
    """Numbers pasted one a line (or separated by `,` `;` tabs); "row" is the position in the list."""
    items = [part for part in _PASTE_SPLIT.split(clean_text(text)) if part.strip()]
    if not items:
        raise Invalid("no numbers pasted", code="empty_list")
    if len(items) > MAX_ROWS:
        raise Invalid(f"more than {MAX_ROWS} numbers", code="too_many_rows", limit=MAX_ROWS)
    result = Import(rows=len(items))
    seen: dict[str, int] = {}
    for number, item in enumerate(items, 1):
        _add(result, seen, number, item, "", {}, country)
    return result


def variables_in(body: str) -> list[str]:
    """The variable names a message uses, in order, once each."""
    return list(dict.fromkeys(key(m) for m in _VARIABLE.findall(body)))


def unknown_variables(body: str, columns: list[str]) -> list[str]:
    """Variables of the message that no column (nor the name) fills."""
    known = set(columns) | {"nombre", "name"}
    return [v for v in variables_in(body) if v not in known]


def render(body: str, name: str, variables: dict[str, str]) -> str:
    """The message one recipient gets: {{nombre}}/{{name}} and {{any column}} filled in."""
    def fill(match: re.Match[str]) -> str:
        k = key(match.group(1))
        if k in ("nombre", "name") and k not in variables:
            return name
        return variables.get(k, "")
    return _VARIABLE.sub(fill, body)


def preview(body: str, recipients: list[Recipient], count: int = PREVIEW_COUNT) -> list[dict[str, str]]:
    """The first rendered messages, as the recipients will read them."""
    return [{"phone": r.phone, "display": r.display, "name": r.name, "text": render(body, r.name, r.vars)}
            for r in recipients[:count]]
