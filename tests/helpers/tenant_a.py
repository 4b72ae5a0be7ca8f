"""Tenant A's data in the isolation tests: none of it may ever reach tenant B."""

from __future__ import annotations

A_PHONE, A_PHONE2, A_PAIR_PHONE = "56900000001", "56900000002", "56900000009"
A_NAME = "AcmeOnlyCustomer"
A_BODY = "quetzal manzana secreta"
A_MARKERS = [A_PHONE, A_PHONE2, A_PAIR_PHONE, A_NAME, "quetzal", '"clientCode":"acme"']
A_PHOTO = {"type": "image", "mime": "image/png", "data": "iVBORw0KGgo="}  # a PNG signature
B_PHONE, B_PHONE2 = "56977777771", "56977777772"
