"""The site order catalog: what each suggestable order is called in this site's EHR.

A suggestion an EHR can turn into an order needs the site's orderable codings (an
RxNorm SCD/SBD, an order-set or preference-list identifier, a LOINC or CPT code for a
test); without them the EHR shows text a clinician must re-enter. The catalog is a YAML
or JSON file whose path is ``CDS_ORDER_CATALOG``; it is read and validated once, at
start-up (``Settings.from_env``): an invalid file stops the service with an error that
names the bad entry. Without a catalog, or without an entry for an order, suggestions
carry text and the codes the service itself knows (clinical-rules.md section 7), as
before.

File shape (``demo/order-catalog.example.yaml`` is a documented example)::

    catalog: "Example Site orderables"     # optional: a name shown in logs
    orders:
      <order key>:
        text: "what the site calls the orderable"          # optional
        codings:                                           # at least one
          - {system: <absolute URI>, code: <code>, display: <optional>}

Order keys are stable names of what the rules suggest (``order_key_*`` below; the one
place where suggestions are rendered, ``cds_service.cards``, looks them up):

``medication:<drug>``
    a drug, any dose: ``<drug>`` is the drug's name in lower case with spaces as ``-``
    (``medication:trastuzumab-deruxtecan``, ``medication:zongertinib``,
    ``medication:ado-trastuzumab-emtansine`` for T-DM1);
``medication:<drug>@<dose><unit>``
    a drug at one dose (``medication:zongertinib@120mg``,
    ``medication:trastuzumab-deruxtecan@5.4mg/kg``); looked up before the drug-only key;
``service:<service>``
    a test, imaging study or referral: ``<service>`` is the rule's service name in lower
    case with ``_`` as ``-`` (``service:chest-ct``, ``service:echocardiogram``,
    ``service:liver-panel``, ``service:her2-ihc``, ``service:ngs-tissue``,
    ``service:ctdna-plasma``, ``service:cbc``, ``service:pregnancy-test``);
``order-set:<name>``
    an order set or preference list (``order-set:platinum-doublet``): the site's
    identifier for it, as a Coding in the site's own system.

A key must name a drug, service or order set the service knows (``known_order_keys``),
so that a misspelt key is an error at start-up rather than an entry never used.

Site codes identify drugs (clinical-rules.md 9.1, "a site's own system"): the codings
of every ``medication:<drug>...`` entry are the site's statement of which drug those codes
are, so a draft or recorded medication carrying one of them is identified as ``<drug>``
(``OrderCatalog.drug_codes``, passed to the mapping once at start-up through
``MappingOptions.site_drug_codes``), after the service's own verified codes. A coding
that the service's drug table gives another drug, or that two entries give two different
drugs, stops the start-up with an error naming the entry. ``medication:other-anticancer-
drug`` entries identify nothing.

Safety: the service does not check a code against a terminology server; the catalog is
the site's statement of its own orderables and is shown as given. Codes in the example
catalog are either verified ones (clinical-rules.md section 7) or codes of the example
site's own code system, under ``https://ehr.example.org``, marked as examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from cds_service.errors import ConfigurationError
from cds_service.rules.base import Service
from fhir_mappings.model import Dose, Drug
from fhir_mappings.terminology import (
    NO_SITE_DRUG_CODES,
    SiteDrugCodes,
    builtin_drug_code,
    code_key,
    site_drug_codes,
)

MEDICATION = "medication"
SERVICE = "service"
ORDER_SET = "order-set"

ORDER_SETS = frozenset({"platinum-doublet"})
"""Order sets the rules can suggest through a catalog entry (clinical-rules.md, 9: a
platinum doublet is a suggestion only when the site maps it to an order set)."""

ANNOUNCED_SERVICES = frozenset({"cbc", "pregnancy-test"})
"""Service keys of suggestions the version-2 rules add (CBC before T-DXd, a pregnancy test
before a first HER2-directed order), accepted before their rules land."""

_DOSE = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>mg/kg|mg)")
_ENTRY_FIELDS = frozenset({"text", "codings"})
_CODING_FIELDS = frozenset({"system", "code", "display"})


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


def drug_slug(drug: Drug) -> str:
    return _slug(drug.value)


def service_slug(service: Service) -> str:
    return _slug(service.name)


def order_key_medication(drug: Drug, dose: Dose | None = None) -> str:
    """``medication:<drug>`` or, with a dose, ``medication:<drug>@<dose><unit>``."""
    key = f"{MEDICATION}:{drug_slug(drug)}"
    if dose is None:
        return key
    return f"{key}@{dose.value:g}{dose.unit.value}"


def order_key_service(service: Service) -> str:
    return f"{SERVICE}:{service_slug(service)}"


def order_key_order_set(name: str) -> str:
    return f"{ORDER_SET}:{name}"


def known_order_keys() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The drug, service and order-set names a key may use."""
    return (
        frozenset(drug_slug(d) for d in Drug),
        frozenset(service_slug(s) for s in Service) | ANNOUNCED_SERVICES,
        ORDER_SETS,
    )


@dataclass(frozen=True, slots=True)
class CatalogCoding:
    system: str
    code: str
    display: str | None = None

    def as_fhir(self) -> dict[str, str]:
        coding = {"system": self.system, "code": self.code}
        if self.display:
            coding["display"] = self.display
        return coding


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    key: str
    codings: tuple[CatalogCoding, ...]
    text: str | None = None


@dataclass(frozen=True, slots=True)
class OrderCatalog:
    """The site's orderables by order key; empty when no catalog is configured."""

    entries: Mapping[str, CatalogEntry] = field(default_factory=dict)
    name: str | None = None
    source: str | None = None
    """The file it was read from."""
    drug_codes: SiteDrugCodes = NO_SITE_DRUG_CODES
    """The codings of the ``medication:`` entries, as the drugs they identify (see the
    module docstring, "Site codes identify drugs"); checked in ``parse_order_catalog``."""

    def lookup(self, *keys: str) -> CatalogEntry | None:
        """The entry of the first key that has one (most specific first)."""
        for key in keys:
            entry = self.entries.get(key)
            if entry is not None:
                return entry
        return None

    def medication(self, drug: Drug, dose: Dose | None) -> CatalogEntry | None:
        keys = [order_key_medication(drug, dose)] if dose is not None else []
        return self.lookup(*keys, order_key_medication(drug))

    def service(self, service: Service) -> CatalogEntry | None:
        return self.lookup(order_key_service(service))

    def order_set(self, name: str) -> CatalogEntry | None:
        return self.lookup(order_key_order_set(name))


EMPTY_CATALOG = OrderCatalog()
"""No catalog: suggestions carry text and the codes the service knows."""


def load_order_catalog(path: str) -> OrderCatalog:
    """Read and validate the catalog file; ConfigurationError names what is wrong."""
    where = f"CDS_ORDER_CATALOG ({path})"
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"{where}: cannot be read ({type(error).__name__})") from None
    document = _parse(text, file.suffix.lower(), where)
    return parse_order_catalog(document, where=where, source=str(file))


def _parse(text: str, suffix: str, where: str) -> Any:
    if suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as error:
            raise ConfigurationError(f"{where}: not valid JSON ({error})") from None
    if suffix in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigurationError(f"{where}: not valid YAML ({error})") from None
    raise ConfigurationError(f"{where}: the file name must end in .yaml, .yml or .json")


def parse_order_catalog(document: Any, *, where: str, source: str | None = None) -> OrderCatalog:
    if not isinstance(document, dict):
        raise ConfigurationError(f"{where}: must be a mapping with an `orders` mapping")
    unknown = sorted(set(document) - {"catalog", "orders"})
    if unknown:
        raise ConfigurationError(f"{where}: unknown top-level fields {unknown}")
    name = document.get("catalog")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigurationError(f"{where}: `catalog` must be a non-empty string")
    orders = document.get("orders")
    if not isinstance(orders, dict) or not orders:
        raise ConfigurationError(f"{where}: `orders` must be a non-empty mapping of order keys")
    entries = {key: _entry(key, value, where) for key, value in orders.items()}
    return OrderCatalog(
        entries=entries, name=name, source=source, drug_codes=_drug_codes(entries, where)
    )


def _drug_codes(entries: Mapping[str, CatalogEntry], where: str) -> SiteDrugCodes:
    """Every coding of a ``medication:<drug>...`` entry identifies ``<drug>``; a coding that
    the service's own drug table gives another drug, or that two entries give two drugs,
    is an error naming the entry (the site's statement contradicts a verified code or
    itself: neither can be trusted to identify the drug)."""
    by_slug = {drug_slug(d): d for d in Drug if d is not Drug.OTHER_ANTICANCER}
    found: list[tuple[str, str, Drug]] = []
    owners: dict[tuple[str, str], tuple[str, Drug]] = {}
    for key, entry in entries.items():
        kind, _, name = key.partition(":")
        drug = by_slug.get(name.partition("@")[0]) if kind == MEDICATION else None
        if drug is None:
            continue
        for index, coding in enumerate(entry.codings):
            here = f"{where}: orders[{key!r}].codings[{index}] ({coding.system}|{coding.code})"
            builtin = builtin_drug_code(coding.system, coding.code)
            if builtin is not None and builtin[0] is not drug:
                raise ConfigurationError(
                    f"{here} is {builtin[0].value} in the service's drug codes, not {drug.value}"
                )
            owner = owners.setdefault(code_key(coding.system, coding.code), (key, drug))
            if owner[1] is not drug:
                raise ConfigurationError(
                    f"{here} is also given for orders[{owner[0]!r}], another drug"
                )
            found.append((coding.system, coding.code, drug))
    return site_drug_codes(found)


def _entry(key: Any, value: Any, where: str) -> CatalogEntry:
    if not isinstance(key, str):
        raise ConfigurationError(f"{where}: order key {key!r} must be a string")
    here = f"{where}: orders[{key!r}]"
    _check_key(key, here)
    if not isinstance(value, dict):
        raise ConfigurationError(f"{here} must be a mapping with `codings`")
    unknown = sorted(set(value) - _ENTRY_FIELDS)
    if unknown:
        raise ConfigurationError(f"{here} has unknown fields {unknown}")
    text = value.get("text")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise ConfigurationError(f"{here}.text must be a non-empty string")
    codings = value.get("codings")
    if not isinstance(codings, list) or not codings:
        raise ConfigurationError(f"{here}.codings must be a non-empty list")
    checked = tuple(_coding(c, f"{here}.codings[{i}]") for i, c in enumerate(codings))
    if len({(c.system, c.code) for c in checked}) != len(checked):
        raise ConfigurationError(f"{here}.codings lists a coding twice")
    return CatalogEntry(key=key, codings=checked, text=text)


def _check_key(key: str, here: str) -> None:
    kind, _, name = key.partition(":")
    drugs, services, order_sets = known_order_keys()
    if kind == MEDICATION:
        drug, _, dose = name.partition("@")
        if drug not in drugs:
            raise ConfigurationError(
                f"{here}: unknown drug {drug!r}; known: {', '.join(sorted(drugs))}"
            )
        if dose and not _DOSE.fullmatch(dose):
            raise ConfigurationError(
                f"{here}: the dose {dose!r} must be a number and mg or mg/kg, e.g. 120mg, 5.4mg/kg"
            )
        return
    if kind == SERVICE:
        if name not in services:
            raise ConfigurationError(
                f"{here}: unknown service {name!r}; known: {', '.join(sorted(services))}"
            )
        return
    if kind == ORDER_SET:
        if name not in order_sets:
            raise ConfigurationError(
                f"{here}: unknown order set {name!r}; known: {', '.join(sorted(order_sets))}"
            )
        return
    raise ConfigurationError(
        f"{here}: an order key is medication:<drug>[@<dose>], service:<name> or order-set:<name>"
    )


def _coding(value: Any, here: str) -> CatalogCoding:
    if not isinstance(value, dict):
        raise ConfigurationError(f"{here} must be a mapping with system and code")
    unknown = sorted(set(value) - _CODING_FIELDS)
    if unknown:
        raise ConfigurationError(f"{here} has unknown fields {unknown}")
    system, code, display = value.get("system"), value.get("code"), value.get("display")
    if not isinstance(system, str) or not _absolute_uri(system):
        raise ConfigurationError(f"{here}.system must be an absolute URI (http(s):, urn:, oid)")
    if not isinstance(code, str) or not code.strip() or code != code.strip():
        raise ConfigurationError(
            f"{here}.code must be a non-empty string without surrounding spaces (quote numbers)"
        )
    if display is not None and (not isinstance(display, str) or not display.strip()):
        raise ConfigurationError(f"{here}.display must be a non-empty string")
    return CatalogCoding(system=system, code=code, display=display)


def _absolute_uri(text: str) -> bool:
    if text.startswith(("urn:oid:", "urn:uuid:", "urn:")):
        return len(text) > 4 and " " not in text
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in text


def merged_codings(
    site: CatalogEntry | None, known: Iterable[Mapping[str, str]]
) -> list[dict[str, str]]:
    """The site's codings first, then the service's own (verified) ones not already there."""
    codings: list[dict[str, str]] = [c.as_fhir() for c in site.codings] if site else []
    seen = {(c["system"], c["code"]) for c in codings}
    for coding in known:
        if (coding["system"], coding["code"]) not in seen:
            codings.append(dict(coding))
            seen.add((coding["system"], coding["code"]))
    return codings
