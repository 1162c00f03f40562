"""Mapping a source's category, language and role names onto the tenant's taxonomy, before
anything is sent.

Categories and roles map by name, case-insensitively (as the service matches them). Languages
are codes with display names in the tenant (`it: Italiano`), while a source may hold a code, the
tenant's own name, or an English name (Pack's "Italian"): each is tried in that order, the last
through `KNOWN_LANGUAGES`. What maps to nothing is `Missing`: listed before the import starts,
and created with `--create-missing` (a language only when its code is known).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from provisioning.importer.sources import Item

# English and native names -> ISO 639-1 code, for sources that store a language by name.
KNOWN_LANGUAGES: Mapping[str, str] = {
    name: code
    for code, names in {
        "ar": ("Arabic", "العربية"),
        "cs": ("Czech", "Čeština"),
        "da": ("Danish", "Dansk"),
        "de": ("German", "Deutsch"),
        "el": ("Greek", "Ελληνικά"),
        "en": ("English",),
        "es": ("Spanish", "Español", "Castellano"),
        "fi": ("Finnish", "Suomi"),
        "fr": ("French", "Français"),
        "hu": ("Hungarian", "Magyar"),
        "it": ("Italian", "Italiano"),
        "ja": ("Japanese", "日本語"),
        "nl": ("Dutch", "Nederlands"),
        "no": ("Norwegian", "Norsk"),
        "pl": ("Polish", "Polski"),
        "pt": ("Portuguese", "Português"),
        "ro": ("Romanian", "Română"),
        "ru": ("Russian", "Русский"),
        "sv": ("Swedish", "Svenska"),
        "tr": ("Turkish", "Türkçe"),
        "zh": ("Chinese", "中文"),
    }.items()
    for name in (code, *names)
}


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name.strip()).casefold()


_KNOWN = {_fold(name): code for name, code in KNOWN_LANGUAGES.items()}


@dataclass(frozen=True)
class Missing:
    kind: str  # "category", "language", "role"
    name: str  # as the source spells it
    code: str | None = None  # a language's code, when known (then it can be created)
    files: int = 0  # how many files use it

    def describe(self) -> str:
        what = f"{self.kind} {self.name!r}"
        if self.kind == "language":
            what += f" (code {self.code})" if self.code else " (no known code: cannot be created)"
        return f"{what}, used by {self.files} file(s)"


@dataclass
class TenantTaxonomy:
    """The tenant's taxonomy as GET /categories, /languages and /roles return it."""

    categories: list[str]
    languages: dict[str, str]  # code -> name
    roles: list[str]


@dataclass
class TaxonomyMap:
    tenant: TenantTaxonomy
    missing: list[Missing] = field(default_factory=list)

    def category(self, name: str) -> str | None:
        return _by_name(self.tenant.categories, name)

    def role(self, name: str) -> str | None:
        return _by_name(self.tenant.roles, name)

    def language(self, value: str) -> str | None:
        """The tenant's code for a source's language: a code, a name the tenant uses, or a
        known name whose code the tenant has."""
        folded = _fold(value)
        by_code = {code.casefold(): code for code in self.tenant.languages}
        if folded.replace("_", "-") in by_code:
            return by_code[folded.replace("_", "-")]
        for code, name in self.tenant.languages.items():
            if _fold(name) == folded:
                return code
        known = _KNOWN.get(folded)
        return by_code.get(known) if known else None

    def apply(self, item: Item) -> Item:
        """The item with its labels in the tenant's spelling (unmapped ones are left as they
        are: the plan refuses to start while any is missing)."""
        return dataclasses.replace(
            item,
            category=(self.category(item.category) or item.category) if item.category else None,
            language=(self.language(item.language) or item.language) if item.language else None,
            roles=tuple(self.role(r) or r for r in item.roles),
        )


def _by_name(names: Iterable[str], wanted: str) -> str | None:
    folded = _fold(wanted)
    return next((n for n in names if _fold(n) == folded), None)


def plan(tenant: TenantTaxonomy, items: Iterable[Item]) -> TaxonomyMap:
    """Map every label of `items`; what maps to nothing is in `.missing`, with a count."""
    mapping = TaxonomyMap(tenant)
    counts: dict[tuple[str, str], int] = {}
    first_spelling: dict[tuple[str, str], str] = {}
    for item in items:
        labels = [("category", item.category), ("language", item.language)]
        labels += [("role", r) for r in item.roles]
        for kind, name in labels:
            if not name or getattr(mapping, kind)(name) is not None:
                continue
            key = (kind, _fold(name))
            counts[key] = counts.get(key, 0) + 1
            first_spelling.setdefault(key, name.strip())
    for (kind, folded), count in sorted(counts.items()):
        code = _KNOWN.get(folded) if kind == "language" else None
        mapping.missing.append(Missing(kind, first_spelling[(kind, folded)], code, count))
    return mapping
