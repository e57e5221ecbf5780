"""Attribute samplers: combinations of persona, audience, difficulty, style and scenario that
Self-Instruct and Evol-Instruct prompts are conditioned on, so generation spreads over them by
design instead of collapsing onto what the teacher writes by default.

The attributes are declared in a YAML file (`data/attributes.yaml`, documented in data/README.md):
each top-level key is an attribute, mapping each of its values to a positive weight. A combination
is one value per attribute, each drawn independently with its weights from a random generator
seeded by (seed, key, attribute): the same key gives the same combination on every run, whatever
the order rows are processed in. A stage uses the id of the row the prompt is made from as the
key (the new row's own id depends on what the prompt produces). The combination is stored with
each row as JSON (`attributes` column) and the dataset card shows how much of the joint space the
training set covers (`joint_coverage`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from synth_assets.core.templates import load_template

__all__ = [
    "ATTRIBUTES_FILE",
    "CONDITIONING_TEMPLATE",
    "Attribute",
    "AttributeFileError",
    "AttributeSpace",
    "JointCoverage",
    "coverage_lines",
    "decode",
    "encode",
    "joint_coverage",
    "load_attributes",
    "parse_attributes",
]

ATTRIBUTES_FILE = "attributes.yaml"  # in the data folder, next to seeds/
CONDITIONING_TEMPLATE = "attributes"  # templates/attributes.txt: field {attributes}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class AttributeFileError(ValueError):
    """The attribute file cannot be used; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Attribute:
    name: str
    values: tuple[str, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class AttributeSpace:
    """The declared attributes, in file order, and where they were read from."""

    attributes: tuple[Attribute, ...]
    source: str
    version: str  # first 12 hex digits of the sha256 of the file: a changed file shows in template_version

    @property
    def combinations(self) -> int:
        return math.prod(len(a.values) for a in self.attributes)

    def sample(self, key: str, seed: int = 0) -> dict[str, str]:
        """One value per attribute, drawn with its weights, fixed by (seed, key, attribute name)."""
        return {a.name: random.Random(f"attributes\x1f{seed}\x1f{key}\x1f{a.name}").choices(a.values, a.weights)[0]
                for a in self.attributes}

    def conditioning(self, combination: Mapping[str, str]) -> str:
        """The text appended to a generation prompt to condition it on `combination`."""
        listed = "\n".join(f"- {name}: {value}" for name, value in combination.items())
        return load_template(CONDITIONING_TEMPLATE).render(attributes=listed)

    def template_version(self, prompt_version: str) -> str:
        """A conditioned prompt's template_version: the prompt's, the conditioning text's and the file's."""
        return f"{prompt_version}+{load_template(CONDITIONING_TEMPLATE).version}+{self.version}"


def encode(combination: Mapping[str, str]) -> str:
    """A combination as the JSON the `attributes` column holds (keys sorted, so equal combinations are equal text)."""
    return json.dumps(dict(combination), sort_keys=True, ensure_ascii=False)


def decode(text: str | None) -> dict[str, str] | None:
    """The combination an `attributes` cell holds; None for a row made without attributes."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return None
    return json.loads(text)


def load_attributes(path: str | Path) -> AttributeSpace | None:
    """The attribute file at `path`, validated; None when there is no such file (no conditioning)."""
    path = Path(path)
    if not path.is_file():
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AttributeFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_attributes(text, str(path), hashlib.sha256(raw).hexdigest()[:12])


def parse_attributes(text: str, source: str = "<attributes>", version: str = "") -> AttributeSpace:
    """Parse and validate the YAML text of an attribute file; every error names `source`, the line
    and the field (`persona`, `persona.'a nurse'`)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise AttributeFileError(f"{source}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if root is None:
        raise AttributeFileError(f"{source}: no attributes declared; map each attribute to its values and weights")
    if not isinstance(root, yaml.MappingNode):
        raise AttributeFileError(f"{source}:{root.start_mark.line + 1}: the file must map attribute names to their "
                                 "values, e.g. `difficulty: {easy: 2, hard: 1}`")
    attributes = []
    for name, (key_node, value_node) in _keys(root, source, "attribute"):
        line = key_node.start_mark.line + 1
        if not _NAME.match(name):
            raise AttributeFileError(f"{source}:{line}: field {name!r}: an attribute name is lower-case letters, "
                                     "digits and '_', starting with a letter")
        attributes.append(_attribute(name, value_node, source))
    if not attributes:
        raise AttributeFileError(f"{source}: no attributes declared")
    return AttributeSpace(tuple(attributes), source, version or hashlib.sha256(text.encode()).hexdigest()[:12])


def _keys(node: yaml.MappingNode, source: str, what: str) -> list[tuple[str, tuple[yaml.Node, yaml.Node]]]:
    """The mapping's scalar keys with their nodes; a duplicate or non-text key is an error."""
    seen: dict[str, int] = {}
    found = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode) or not key_node.value.strip():
            raise AttributeFileError(f"{source}:{line}: each {what} must be a non-empty text")
        key = key_node.value.strip()
        if key in seen:
            raise AttributeFileError(f"{source}:{line}: {what} {key!r} is declared twice (first on line {seen[key]})")
        seen[key] = line
        found.append((key, (key_node, value_node)))
    return found


def _attribute(name: str, node: yaml.Node, source: str) -> Attribute:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode):  # a plain list: every value weighs the same
        values = []
        for item in node.value:
            if not isinstance(item, yaml.ScalarNode) or not item.value.strip():
                raise AttributeFileError(f"{source}:{item.start_mark.line + 1}: field {name!r}: each value must be "
                                         "a non-empty text")
            values.append(item.value.strip())
        if len(set(values)) != len(values):
            raise AttributeFileError(f"{source}:{line}: field {name!r}: a value is listed twice")
        weights = [1.0] * len(values)
    elif isinstance(node, yaml.MappingNode):
        values, weights = [], []
        for value, (_, weight_node) in _keys(node, source, f"value of {name!r}"):
            values.append(value)
            weights.append(_weight(weight_node, source, f"{name}.{value!r}"))
    else:
        raise AttributeFileError(f"{source}:{line}: field {name!r}: map each value to a positive weight "
                                 f"(`{name}: {{a value: 2, another: 1}}`) or list the values")
    if not values:
        raise AttributeFileError(f"{source}:{line}: field {name!r}: declares no values")
    return Attribute(name, tuple(values), tuple(weights))


def _weight(node: yaml.Node, source: str, field: str) -> float:
    line = node.start_mark.line + 1
    number = None
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":int", ":float")):
        number = float(yaml.safe_load(node.value))
    if number is None or not math.isfinite(number) or number <= 0:
        shown = node.value if isinstance(node, yaml.ScalarNode) else "a " + type(node).__name__.removesuffix("Node").lower()
        raise AttributeFileError(f"{source}:{line}: field {field}: the weight must be a positive number, got {shown!r}")
    return number


@dataclass(frozen=True)
class JointCoverage:
    """How much of the attribute space a set of rows covers."""

    rows: int  # every row measured
    conditioned: int  # rows made from a conditioned prompt
    combinations_seen: int
    combinations_possible: int
    per_attribute: tuple[tuple[str, int, int], ...]  # (attribute, values seen, values declared)
    pairs: tuple[tuple[str, str, int, int], ...]  # (attribute, attribute, pairs seen, pairs possible)
    undeclared: int  # conditioned rows with a value the file no longer declares


def joint_coverage(cells: Iterable[str | None], space: AttributeSpace) -> JointCoverage:
    """The coverage of the rows whose `attributes` cells are `cells`, against the declared space."""
    cells = list(cells)
    combos = [c for c in (decode(cell) for cell in cells) if c is not None]
    declared = {a.name: set(a.values) for a in space.attributes}
    names = [a.name for a in space.attributes]
    valid = [c for c in combos if all(c.get(n) in declared[n] for n in names)]
    seen = {tuple(c[n] for n in names) for c in valid}
    per_attribute = tuple((a.name, len({c[a.name] for c in valid}), len(a.values)) for a in space.attributes)
    pairs = tuple(
        (a.name, b.name, len({(c[a.name], c[b.name]) for c in valid}), len(a.values) * len(b.values))
        for a, b in itertools.combinations(space.attributes, 2)
    )
    return JointCoverage(len(cells), len(combos), len(seen), space.combinations, per_attribute, pairs,
                         len(combos) - len(valid))


def coverage_lines(coverage: JointCoverage, source: str) -> list[str]:
    """The dataset card's section on attribute coverage, as markdown lines."""
    if not coverage.conditioned:
        return [f"No row of this set was made from a prompt conditioned on attributes ({source})."]
    share = coverage.combinations_seen / coverage.combinations_possible
    lines = [
        f"{coverage.conditioned} of {coverage.rows} rows were made from prompts conditioned on a combination of "
        f"attributes from `{source}` (Self-Instruct and Evol-Instruct; their answers keep it). Joint coverage: "
        f"{coverage.combinations_seen} of the {coverage.combinations_possible} possible combinations appear "
        f"({share:.1%}).",
        "",
        "| attribute | values seen | values declared |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {seen} | {declared} |" for name, seen, declared in coverage.per_attribute],
    ]
    if coverage.pairs:
        lines += ["", "| attributes | pairs seen | pairs possible | coverage |", "| --- | ---: | ---: | ---: |",
                  *[f"| {a} x {b} | {seen} | {possible} | {seen / possible:.1%} |"
                    for a, b, seen, possible in coverage.pairs]]
    if coverage.undeclared:
        lines += ["", f"{coverage.undeclared} conditioned rows hold a value the file no longer declares "
                      "(it changed after they were made); they are not counted above."]
    return lines
