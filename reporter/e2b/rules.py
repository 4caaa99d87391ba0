"""Business-rule checks on produced E2B(R3) XML: ICH conformance driven by the element dictionary, plus
the conditional rule sets in mappings/e2b/rules/ (ich, fda, ema) in a small declarative language."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from lxml import etree

from reporter import config
from reporter.e2b.dates import ts_digits, ts_is_valid, ts_start
from reporter.e2b.dictionary import Dictionary, Element, dictionary, rule_set
from reporter.e2b.issues import Issue, e2b_issue

Node = etree._Element
_COMPILED: dict[str, etree.XPath] = {}


def _compiled(path: str, namespaces: dict[str, str]) -> etree.XPath:
    found = _COMPILED.get(path)
    if found is None:
        found = _COMPILED[path] = etree.XPath(path, namespaces=namespaces)
    return found


class Locator:
    """Finds group instances and element nodes in one batch document (instances cached per group)."""

    def __init__(self, root: Node, dic: Dictionary | None = None) -> None:
        self.root = root
        self.d = dic or dictionary()
        self._instances: dict[str, list[Node]] = {}
        self._sets: dict[str, set[Node]] = {}
        self._chains: dict[str, list[str]] = {}
        self._nodes: dict[tuple[Node, str, str], list[Node]] = {}

    def _xpath(self, node: Node, path: str) -> list[Node]:
        return _compiled(path, self.d.namespaces)(node)

    def chain(self, group: str) -> list[str]:
        found = self._chains.get(group)
        if found is None:
            found = self._chains[group] = self.d.chain(group)
        return found

    def instances(self, group: str) -> list[Node]:
        if group not in self._instances:
            spec = self.d.groups[group]
            if spec.parent is None:
                found = self._xpath(self.root, spec.path)
            else:
                found = [n for p in self.instances(spec.parent) for n in self._xpath(p, spec.path)]
            self._instances[group] = found
            self._sets[group] = set(found)
        return self._instances[group]

    def index(self, group: str, node: Node) -> int:
        return self.instances(group).index(node) + 1

    def ancestor(self, node: Node, group: str, node_group: str) -> Node | None:
        if group == node_group:
            return node
        self.instances(group)
        members = self._sets[group]
        return next((a for a in node.iterancestors() if a in members), None)

    def nested(self, node: Node, node_group: str, group: str) -> list[Node]:
        """Instances of `group` reachable from `node` (an instance of node_group) through their common
        enclosing group."""
        mine, theirs = self.chain(node_group), self.chain(group)
        common = None
        for a, b in zip(mine, theirs, strict=False):
            if a != b:
                break
            common = a
        if common is None:
            return self.instances(group)
        base = self.ancestor(node, common, node_group)
        if base is None:
            return []
        current = [base]
        for name in theirs[theirs.index(common) + 1:]:
            current = [n for c in current for n in self._xpath(c, self.d.groups[name].path)]
        return current

    def nodes(self, node: Node, node_group: str, element: Element) -> list[Node]:
        assert element.group is not None and element.node is not None
        key = (node, node_group, element.number)
        found = self._nodes.get(key)
        if found is not None:
            return found
        bases = self.nested(node, node_group, element.group)
        found = self._nodes[key] = [n for base in bases for n in self._xpath(base, element.node)]
        return found


def value_of(node: Node, element: Element) -> str | None:
    spec = element.value or "text()"
    if spec == "text()":
        text = "".join(node.itertext()) if len(node) else node.text
        return text if text not in (None, "") else None
    value = node.get(spec[1:]) if spec.startswith("@") else None
    return value if value not in (None, "") else None


def _today() -> dt.date:
    configured = config.get("today")
    return dt.date.fromisoformat(configured) if configured else dt.date.today()


class Where:
    """An issue location computed only when an issue is reported (numbering instances is not free)."""

    def __init__(self, checker: Checker, number: str, group: str, node: Node) -> None:
        self.args = (number, group, node)
        self.checker = checker

    def __str__(self) -> str:
        return self.checker.where(*self.args)


class Checker:
    def __init__(self, root: Node, rule_sets: Iterable[str]) -> None:
        self.loc = Locator(root)
        self.d = self.loc.d
        self.sets = [rule_set(name) for name in rule_sets]
        self.issues: list[Issue] = []

    # -- locations -------------------------------------------------------------------------------
    def where(self, number: str, group: str, node: Node) -> str:
        parts: list[str] = []
        for name in self.loc.chain(group):
            if name in ("batch", "report", "assessment", "patient"):
                continue
            inst = self.loc.ancestor(node, name, group)
            if inst is None:
                continue
            label = "case" if name == "message" else name.replace("_", " ")
            parent = self.d.groups[name].parent
            outer = self.loc.ancestor(inst, parent, name) if parent else None
            siblings = self.loc.nested(outer, parent, name) if outer is not None and parent else \
                self.loc.instances(name)
            parts.append(f"{label} {siblings.index(inst) + 1}")
        return f"{number} ({', '.join(parts)})" if parts else number

    def add(self, severity: str, code: str, location: str | Where, message: str, hint: str | None = None) -> None:
        self.issues.append(e2b_issue(severity, code, str(location), message, hint))

    # -- per-element checks ------------------------------------------------------------------------
    def check_elements(self) -> None:
        ich = next((s for s in self.sets if s.get("name") == "ich"), {})
        values = ich.get("values") or {}
        precision = ich.get("date_precision") or {}
        dates = set(ich.get("date_elements") or ())
        today = _today()
        for element in self.d.elements.values():
            if element.group is None or element.node is None:
                continue
            for inst in self.loc.instances(element.group):
                nodes = self.loc._xpath(inst, element.node)
                if element.conformance in ("mandatory", "required") and not any(
                        value_of(n, element) is not None or n.get("nullFlavor") for n in nodes):
                    self.add("error", "E2B-MANDATORY", self.where(element.number, element.group, inst),
                             f"{element.name} is mandatory but missing")
                for n in nodes:
                    self._check_value(element, n, Where(self, element.number, element.group, inst),
                                      values, precision, dates, today)

    def _check_value(self, element: Element, node: Node, where: Where, values: dict[str, Any],
                     precision: dict[str, int], dates: set[str], today: dt.date) -> None:
        flavor = node.get("nullFlavor")
        if flavor and element.value and element.value != "@unit":
            if flavor not in element.null_flavors:
                allowed = ", ".join(element.null_flavors) or "none"
                self.add("error", "E2B-NULLFLAVOR", where,
                         f"nullFlavor {flavor} is not allowed for {element.name} (allowed: {allowed})")
            return
        value = value_of(node, element)
        if value is None:
            return
        limit = element.max_length if element.type not in ("Date/Time", "Boolean") else None
        if limit and len(value) > limit:
            self.add("error", "E2B-LENGTH", where,
                     f"{element.name} is {len(value)} characters long; at most {element.max_length} allowed")
        allowed = values.get(element.number)
        if allowed is not None and value not in allowed:
            self.add("error", "E2B-VALUE", where, f"{value!r} is not an allowed value for {element.name}",
                     hint="allowed: " + ", ".join(allowed))
        if element.number in dates:
            if not ts_is_valid(value):
                self.add("error", "E2B-DATE", where, f"{value!r} is not an HL7 date (CCYY[MM[DD[hhmmss]]])")
                return
            need = precision.get(element.number)
            if need and ts_digits(value) < need:
                label = "to the second" if need == 14 else "to the day"
                self.add("error", "E2B-DATE-PRECISION", where,
                         f"{element.name} {value} must be precise {label}")
            if ts_start(value).date() > today:
                self.add("error", "E2B-FUTURE-DATE", where, f"{element.name} {value} is in the future")

    def check_messages(self) -> None:
        ich = next((s for s in self.sets if s.get("name") == "ich"), {})
        meddra = [self.d.elements[n] for n in ich.get("meddra_elements") or () if n in self.d.elements]
        seen: dict[str, int] = {}
        for i, message in enumerate(self.loc.instances("message"), start=1):
            ids = message.xpath("h:id/@extension", namespaces=self.d.namespaces)
            if ids:
                if ids[0] in seen:
                    self.add("error", "E2B-DUPLICATE-MESSAGE", f"N.2.r.1 (case {i})",
                             f"message id {ids[0]!r} is also used by case {seen[ids[0]]} in this batch",
                             hint="a batch carries each case once")
                seen.setdefault(ids[0], i)
            versions: set[str] = set()
            for element in meddra:
                for node in self.loc.nodes(message, "message", element):
                    version = value_of(node, element)
                    if version:
                        versions.add(version)
            if len(versions) > 1:
                self.add("error", "E2B-MEDDRA-VERSION", f"E.i.2.1a (case {i})",
                         f"more than one MedDRA version in one case: {', '.join(sorted(versions))}",
                         hint="re-code every term with one MedDRA release")

    # -- conditional rules -------------------------------------------------------------------------
    def holds(self, cond: dict[str, Any], node: Node, group: str) -> bool:
        if "group" in cond:
            result = bool(self.loc.nested(node, group, cond["group"])) == bool(cond.get("present", True))
        else:
            element = self.d.elements[cond["element"]]
            nodes = self.loc.nodes(node, group, element)
            values = [value_of(n, element) for n in nodes]
            flavors = [n.get("nullFlavor") for n in nodes]
            if "present" in cond:
                there = any(v is not None or f for v, f in zip(values, flavors, strict=True))
                result = there == bool(cond["present"])
            elif "in" in cond:
                result = any(v in cond["in"] for v in values)
            elif "not_in" in cond:
                result = any(v is not None and v not in cond["not_in"] for v in values)
            elif "null_flavor" in cond:
                result = any(f in cond["null_flavor"] for f in flavors)
            elif "same_as" in cond:
                other = self.d.elements[cond["same_as"]]
                expected = {value_of(n, other) for n in self.loc.nodes(node, group, other)}
                result = all(v in expected for v in values)
            else:
                result = True
        return not result if cond.get("not") else result

    def check_rules(self) -> None:
        for data in self.sets:
            for rule in data.get("rules") or ():
                scope = rule["scope"]
                for inst in self.loc.instances(scope):
                    if not all(self.holds(c, inst, scope) for c in rule.get("when") or ()):
                        continue
                    ok = True
                    if rule.get("then") is not None:
                        ok = self.holds(rule["then"], inst, scope)
                    if ok and rule.get("then_any"):
                        ok = any(self.holds(c, inst, scope) for c in rule["then_any"])
                    if not ok:
                        number = rule.get("element") or scope
                        where = self.where(number, scope, inst)
                        self.add(rule["severity"], rule["id"], where, rule["message"], rule.get("hint"))


def check(root: Node | etree._ElementTree, rule_sets: Iterable[str] = ("ich",)) -> list[Issue]:
    """Every business-rule issue in a batch document (root element MCCI_IN200100UV01)."""
    if isinstance(root, etree._ElementTree):
        root = root.getroot()
    checker = Checker(root, rule_sets)
    checker.check_elements()
    checker.check_messages()
    checker.check_rules()
    return checker.issues
