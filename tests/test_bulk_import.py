"""CSV and pasted recipient lists: sniffed delimiter and encoding, phone and name columns found by
name, every unusable row reported with its row number, variables rendered into the preview."""

from __future__ import annotations

import pytest

from app.errors import Invalid
from app.services import bulk_import as bi

EXCEL_ES = "Nombre;Teléfono;Ciudad;Fecha cita\r\nJosé Núñez;9 8765 4321;Ñuñoa;lunes\r\nMaría;+56 9 5555 1234;Viña;martes\r\n"


def test_spanish_excel_export_semicolon_latin1() -> None:
    got = bi.parse_csv(EXCEL_ES.encode("cp1252"), "CL")
    assert (got.delimiter, got.encoding) == (";", "cp1252")
    assert (got.phone_column, got.name_column) == ("Teléfono", "Nombre")
    assert got.columns == ["nombre", "ciudad", "fecha_cita"]
    assert [(r.row, r.phone, r.name) for r in got.recipients] == [(2, "56987654321", "José Núñez"),
                                                                   (3, "56955551234", "María")]
    assert got.recipients[0].vars == {"nombre": "José Núñez", "ciudad": "Ñuñoa", "fecha_cita": "lunes"}
    assert got.problems == []


@pytest.mark.parametrize(("data", "encoding", "delimiter"), [
    (EXCEL_ES.replace(";", ",").encode("utf-8"), "utf-8", ","),
    (b"\xef\xbb\xbf" + EXCEL_ES.encode("utf-8"), "utf-8-sig", ";"),
    (EXCEL_ES.replace(";", "\t").encode("utf-16"), "utf-16", "\t"),
    (EXCEL_ES.replace("Ciudad", "Ciudad “€”").encode("cp1252"), "cp1252", ";"),
])
def test_encodings_and_delimiters_are_sniffed(data: bytes, encoding: str, delimiter: str) -> None:
    got = bi.parse_csv(data, "CL")
    assert (got.encoding, got.delimiter) == (encoding, delimiter)
    assert [r.name for r in got.recipients] == ["José Núñez", "María"]
    assert got.recipients[0].vars["ciudad"] == "Ñuñoa"


def test_quoted_commas_do_not_fool_the_sniffer() -> None:
    data = 'celular,nombre,nota\n"+56 9 8765 4321","Pérez, Ana","hola, qué tal"\n987654322,Luis,x\n'.encode()
    got = bi.parse_csv(data, "CL")
    assert got.delimiter == "," and got.recipients[0].name == "Pérez, Ana"
    assert got.recipients[0].vars["nota"] == "hola, qué tal"


def test_bad_rows_and_duplicates_are_reported_with_row_and_reason() -> None:
    data = ("nombre;whatsapp\nAna;987654321\nBeto;llamar después\nCata;\n\nDani;+56 9 8765 4321\n"
            "Eli;123\nFeli;+56 9 2222 3333\n").encode("cp1252")
    got = bi.parse_csv(data, "CL")
    assert [r.row for r in got.recipients] == [2, 8]
    assert [p.public() for p in got.problems] == [
        {"row": 3, "value": "llamar después", "reason": "not_a_number"},
        {"row": 4, "value": "", "reason": "empty"},
        {"row": 6, "value": "+56 9 8765 4321", "reason": "duplicate", "first_row": 2},
        {"row": 7, "value": "123", "reason": "too_short"},
    ]
    assert got.counts() == {"rows": 6, "valid": 2, "invalid": 3, "duplicate": 1}  # the blank line is no row


def test_header_found_inside_a_longer_name_and_short_rows_padded() -> None:
    got = bi.parse_csv("Cliente;Teléfono celular 1;Monto\nAna;987654321\n".encode(), "CL")
    assert got.phone_column == "Teléfono celular 1" and got.name_column == "Cliente"
    assert got.recipients[0].vars == {"cliente": "Ana", "monto": ""}


def test_a_file_without_header_is_phone_then_name() -> None:
    got = bi.parse_csv(b"987654321;Ana\n+56955551234;Beto\n", "CL")
    assert [(r.phone, r.name) for r in got.recipients] == [("56987654321", "Ana"), ("56955551234", "Beto")]
    assert got.recipients[0].row == 1


@pytest.mark.parametrize(("data", "code"), [
    (b"", "empty_file"),
    (b" \r\n;;\r\n", "empty_file"),
    (b"\xef\xbb\xbf", "empty_file"),
    (b"producto;precio\npan;1000\n", "no_phone_column"),
    (b"telefono\n" + b"987654321\n" * (bi.MAX_ROWS + 1), "too_many_rows"),
    (b"x" * (bi.MAX_FILE_BYTES + 1), "file_too_large"),
    ((";".join(["telefono"] + [f"c{i}" for i in range(bi.MAX_COLUMNS)]) + "\n1;2\n").encode(), "too_many_columns"),
])
def test_unusable_files_say_why(data: bytes, code: str) -> None:
    with pytest.raises(Invalid) as err:
        bi.parse_csv(data, "CL")
    assert err.value.code == code


def test_pasted_numbers_one_a_line_or_separated() -> None:
    got = bi.parse_pasted("987654321\n+56 9 5555 1234, 9 8765 4321; hola\n\n", "CL")
    assert [r.phone for r in got.recipients] == ["56987654321", "56955551234"]
    assert [(p.row, p.reason) for p in got.problems] == [(3, "duplicate"), (4, "not_a_number")]
    with pytest.raises(Invalid):
        bi.parse_pasted(" \n ,", "CL")


def test_render_fills_name_and_any_column() -> None:
    got = bi.parse_csv(EXCEL_ES.encode("cp1252"), "CL")
    body = "Hola {{nombre}} ({{ Name }}), tu cita del {{Fecha cita}} en {{ciudad}}. {{otra}}"
    shown = bi.preview(body, got.recipients)
    assert shown[0]["text"] == "Hola José Núñez (José Núñez), tu cita del lunes en Ñuñoa. "
    assert shown[1]["display"] == "+56 9 5555 1234" and len(shown) == 2
    assert bi.unknown_variables(body, got.columns) == ["otra"]
    assert bi.render("Hola {{name}}", "Ana", {}) == "Hola Ana"  # pasted numbers: no columns
