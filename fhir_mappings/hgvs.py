"""A small HGVS parser: protein changes (p.) and coding DNA changes (c.), as labs send them.

Accepted protein notations: one- or three-letter amino acids (``p.Y772_A775dup``,
``p.Tyr772_Ala775dup``), with or without ``p.``, predicted-consequence parentheses
(``p.(Y772_A775dup)``), a reference-sequence or gene prefix (``NP_004439.2:p.…``,
``ERBB2:p.…``); missense, nonsense (``*``/``Ter``/``X``), synonymous (``=``), deletion,
duplication, insertion, deletion-insertion, frameshift and extension. Deleted sequences
(``delYVMA``, ``dupYVMA``) are accepted and dropped from the normalised form, as HGVS
recommends. Everything is normalised to one-letter notation with a ``p.`` prefix and no
reference prefix, e.g. ``p.Y772_A775dup``.

Amino-acid letters are case-sensitive, as HGVS defines them (``Ala`` is alanine; ``ALA``
is read as three one-letter codes, which fails to parse a position and so is rejected
rather than misread).

The c. parser returns only what the variant classifier can use without a transcript:
the first coding position, whether it is intronic, and the kind of change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_THREE_TO_ONE = {
    "Ala": "A",
    "Arg": "R",
    "Asn": "N",
    "Asp": "D",
    "Cys": "C",
    "Gln": "Q",
    "Glu": "E",
    "Gly": "G",
    "His": "H",
    "Ile": "I",
    "Leu": "L",
    "Lys": "K",
    "Met": "M",
    "Phe": "F",
    "Pro": "P",
    "Ser": "S",
    "Thr": "T",
    "Trp": "W",
    "Tyr": "Y",
    "Val": "V",
    "Sec": "U",
    "Pyl": "O",
    "Ter": "*",
    "Xaa": "X",
}
_AA = "(?:" + "|".join(_THREE_TO_ONE) + "|[ACDEFGHIKLMNPQRSTVWYUOX*])"
_POSITION = rf"({_AA})(\d+)"
_PROTEIN = re.compile(rf"^{_POSITION}(?:_{_POSITION})?(.*)$")
_AA_TOKEN = re.compile(_AA)
_SEQUENCE = re.compile(rf"^(?:{_AA})+$")
_FRAMESHIFT = re.compile(rf"^({_AA})?fs(?:(?:\*|Ter|X)(\d+|\?)?)?$")
_INSERT_COUNT = re.compile(r"^(?:\d+|X\[\d+\]|\(\d+\))$")


class ChangeKind(StrEnum):
    """Kinds of protein change (HGVS recommendations, varnomen.hgvs.org)."""

    MISSENSE = "missense"
    NONSENSE = "nonsense"
    SYNONYMOUS = "synonymous"
    DELETION = "del"
    DUPLICATION = "dup"
    INSERTION = "ins"
    DELINS = "delins"
    FRAMESHIFT = "fs"
    EXTENSION = "ext"


def _one_letter(sequence: str) -> str:
    return "".join(_THREE_TO_ONE.get(token, token) for token in _AA_TOKEN.findall(sequence))


@dataclass(frozen=True, slots=True)
class ProteinChange:
    kind: ChangeKind
    first_residue: str
    first_position: int
    last_residue: str | None = None
    last_position: int | None = None
    inserted: str | None = None
    """Inserted residues (ins, delins), or the new residue (missense), one-letter."""
    tail: str = ""
    """Frameshift tail as given, normalised (e.g. ``Qfs*10``)."""

    @property
    def notation(self) -> str:
        """One-letter HGVS, e.g. ``p.A775_G776insYVMA``."""
        span = f"{self.first_residue}{self.first_position}"
        if self.last_position is not None:
            span += f"_{self.last_residue}{self.last_position}"
        suffix = {
            ChangeKind.MISSENSE: self.inserted or "",
            ChangeKind.NONSENSE: "*",
            ChangeKind.SYNONYMOUS: "=",
            ChangeKind.DELETION: "del",
            ChangeKind.DUPLICATION: "dup",
            ChangeKind.INSERTION: f"ins{self.inserted or ''}",
            ChangeKind.DELINS: f"delins{self.inserted or ''}",
            ChangeKind.FRAMESHIFT: self.tail,
            ChangeKind.EXTENSION: self.tail,
        }[self.kind]
        return f"p.{span}{suffix}"

    @property
    def is_insertion_like(self) -> bool:
        """An in-frame gain of residues: insertion, duplication, or delins adding residues."""
        if self.kind in (ChangeKind.INSERTION, ChangeKind.DUPLICATION):
            return True
        if self.kind is ChangeKind.DELINS and self.inserted:
            deleted = (self.last_position or self.first_position) - self.first_position + 1
            return len(self.inserted) > deleted
        return False


def _strip_protein_prefix(text: str) -> str:
    value = text.strip()
    if ":" in value:
        value = value.rsplit(":", 1)[1].strip()
    if value[:2].lower() == "p.":
        value = value[2:]
    if value.startswith("(") and value.endswith(")"):
        value = value[1:-1]
    return value.strip()


_Parts = tuple[ChangeKind, str | None, str]
"""A protein change's kind, inserted residues (or the new residue) and tail."""

_INDELS = (
    ("delins", ChangeKind.DELINS),
    ("dup", ChangeKind.DUPLICATION),
    ("del", ChangeKind.DELETION),
    ("ins", ChangeKind.INSERTION),
)


def _indel_keyword(rest: str) -> tuple[ChangeKind, str] | None:
    """The indel the change after the position(s) starts with, and what follows it."""
    for keyword, kind in _INDELS:
        if rest.startswith(keyword):
            return kind, rest[len(keyword) :]
    return None


def _indel(kind: ChangeKind, tail: str, *, ranged: bool) -> _Parts | None:
    """A deletion, duplication, insertion or delins; None when malformed."""
    if kind in (ChangeKind.DUPLICATION, ChangeKind.DELETION):
        if tail and not _SEQUENCE.match(tail):
            return None
        return kind, None, ""
    if kind is ChangeKind.INSERTION and not ranged:
        return None
    if _SEQUENCE.match(tail):
        return kind, _one_letter(tail), ""
    if _INSERT_COUNT.match(tail):
        return kind, None, ""
    return None


def _point_change(rest: str, first: str) -> _Parts | None:
    """A change at one position: frameshift, extension, nonsense, synonymous or missense."""
    frameshift = _FRAMESHIFT.match(rest)
    if frameshift is not None:
        new = _THREE_TO_ONE.get(frameshift.group(1) or "", frameshift.group(1) or "")
        length = frameshift.group(2)
        tail = f"{new}fs" + (f"*{length}" if length else "")
        return ChangeKind.FRAMESHIFT, None, tail
    if "ext" in rest:
        return ChangeKind.EXTENSION, None, _one_letter_tail(rest)
    if _AA_TOKEN.fullmatch(rest):
        new = _THREE_TO_ONE.get(rest, rest)
        if new in ("*", "X") and rest != "X":
            return ChangeKind.NONSENSE, None, ""
        if new == first:
            return ChangeKind.SYNONYMOUS, None, ""
        return ChangeKind.MISSENSE, new, ""
    return None


def parse_protein_change(text: str) -> ProteinChange | None:
    """Parse one p.HGVS expression; None when it is not one."""
    found = _PROTEIN.match(_strip_protein_prefix(text))
    if found is None:
        return None
    first_aa, first_pos, last_aa, last_pos, rest = found.groups()
    first = _THREE_TO_ONE.get(first_aa, first_aa)
    last = _THREE_TO_ONE.get(last_aa, last_aa) if last_aa else None
    ranged = last_pos is not None
    rest = rest.strip()
    indel = _indel_keyword(rest)
    parts: _Parts | None
    if rest == "=":
        parts = ChangeKind.SYNONYMOUS, None, ""
    elif indel is not None:
        parts = _indel(*indel, ranged=ranged)
    elif ranged:
        parts = None
    else:
        parts = _point_change(rest, first)
    if parts is None:
        return None
    kind, inserted, tail = parts
    last_position = int(last_pos) if last_pos else None
    return ProteinChange(kind, first, int(first_pos), last, last_position, inserted, tail)


def _one_letter_tail(text: str) -> str:
    out = text
    for three, one in _THREE_TO_ONE.items():
        out = out.replace(three, one)
    return out


_PROTEIN_TOKEN = re.compile(
    r"(?:(?:NP|XP)_\d+(?:\.\d+)?:)?p\.\(?[A-Za-z*=0-9_\[\]]+\)?"
    rf"|\b{_AA}\d+(?:_{_AA}\d+)?(?:dup|delins|del|ins|fs|{_AA})[A-Za-z*0-9\[\]]*"
)


def find_protein_change(text: str) -> ProteinChange | None:
    """The first parseable protein change mentioned anywhere in a free text."""
    for token in _PROTEIN_TOKEN.findall(text):
        parsed = parse_protein_change(token.rstrip(").,;"))
        if parsed is None and token.endswith(")"):
            parsed = parse_protein_change(token)
        if parsed is not None:
            return parsed
    return None


# --- c.HGVS --------------------------------------------------------------------------------


class DnaChangeKind(StrEnum):
    SUBSTITUTION = "sub"
    DELETION = "del"
    DUPLICATION = "dup"
    INSERTION = "ins"
    DELINS = "delins"


@dataclass(frozen=True, slots=True)
class DnaChange:
    kind: DnaChangeKind
    first_position: int
    intronic: bool
    in_frame: bool | None = None
    """Whether the change keeps the reading frame (None: cannot tell from the notation)."""

    @property
    def first_codon(self) -> int:
        """The codon of the first changed coding nucleotide (c.1-3 = codon 1)."""
        return (self.first_position + 2) // 3


_CDNA = re.compile(r"^(\d+)([+-]\d+)?(?:_(\d+)([+-]\d+)?)?(.*)$")


def parse_dna_change(text: str) -> DnaChange | None:
    """Parse one c.HGVS expression (coding positions only; UTR positions are rejected)."""
    value = text.strip()
    if ":" in value:
        value = value.rsplit(":", 1)[1].strip()
    if value[:2].lower() != "c.":
        return None
    found = _CDNA.match(value[2:].strip("()"))
    if found is None:
        return None
    first, first_offset, last, last_offset, rest = found.groups()
    rest = rest.strip()
    intronic = bool(first_offset or last_offset)
    kind: DnaChangeKind | None = None
    if re.fullmatch(r"[ACGTacgt]>[ACGTacgt]", rest):
        kind = DnaChangeKind.SUBSTITUTION
    else:
        for keyword, candidate in (
            ("delins", DnaChangeKind.DELINS),
            ("dup", DnaChangeKind.DUPLICATION),
            ("del", DnaChangeKind.DELETION),
            ("ins", DnaChangeKind.INSERTION),
        ):
            if rest.startswith(keyword):
                kind = candidate
                break
    if kind is None:
        return None
    return DnaChange(kind, int(first), intronic, _in_frame(kind, first, last, rest))


def _in_frame(kind: DnaChangeKind, first: str, last: str | None, rest: str) -> bool | None:
    if kind is DnaChangeKind.SUBSTITUTION:
        return True
    span = int(last) - int(first) + 1 if last else 1
    inserted = re.match(r"(?:delins|ins)([ACGTacgt]+)$", rest)
    if kind in (DnaChangeKind.DUPLICATION, DnaChangeKind.DELETION):
        return span % 3 == 0
    if inserted is None:
        return None
    gained = len(inserted.group(1))
    if kind is DnaChangeKind.INSERTION:
        return gained % 3 == 0
    return (gained - span) % 3 == 0


_DNA_TOKEN = re.compile(r"(?:(?:NM|XM)_\d+(?:\.\d+)?:)?c\.\(?[0-9][0-9_+\-ACGTacgt>a-z()]*")


def find_dna_change(text: str) -> DnaChange | None:
    for token in _DNA_TOKEN.findall(text):
        parsed = parse_dna_change(token.rstrip(").,;"))
        if parsed is not None:
            return parsed
    return None
