"""Business-rule checks on produced E2B(R3) XML: ICH conformance driven by the element dictionary, plus
the conditional rule sets in mappings/e2b/rules/ (ich, fda, ema) in a small declarative language."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from lxml import etree

from reporter import config
from reporter.e2b.dates import ts_digits, ts_is_valid, ts_start
from reporter.e2b.dictionary import Dictionary, Element, dictionary, regional_elements, rule_set
from reporter.e2b.issues import Issue, e2b_issue
from reporter.e2b.read.reader import ii_key, regional_nodes

Node = etree._Element
Pair = tuple[str | None, str | None]  # (value, nullFlavor) of one element node
Found = tuple[Node, str | None, str | None]  # an element node with its value and nullFlavor
_COMPILED: dict[str, etree.XPath] = {}


def _compiled(path: str, namespaces: dict[str, str]) -> etree.XPath:
    found = _COMPILED.get(path)
    if found is None:
        found = _COMPILED[path] = etree.XPath(path, namespaces=namespaces, regexp=False, smart_strings=False)
    return found


@cache
def _steps(path: str) -> int | None:
    """How many levels a relative XPath goes down (a result's ancestor that many levels up is the context
    node); None when that is not fixed (`//`, `..`, other axes, unions, absolute paths)."""
    if path.startswith("/") or "//" in path or "|" in path:
        return None
    depth, steps, start = 0, [], 0
    for i, ch in enumerate(path):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "/" and depth == 0:
            steps.append(path[start:i])
            start = i + 1
    steps.append(path[start:])
    names = [step.split("[", 1)[0] for step in steps]
    if any(not name or name.startswith(("@", ".")) or "(" in name or
           ("::" in name and not name.startswith("self::")) for name in names):
        return None
    return sum(not name.startswith("self::") for name in names)


def _up(node: Node, levels: int) -> Node:
    for _ in range(levels):
        node = node.getparent()
    return node


class Locator:
    """Group instances and element values of one batch document, each found once.

    Paths of a fixed depth are evaluated once for the whole batch (`$i/path` with every instance of the
    enclosing group as the node-set $i) and each result is given to its instance by walking up that many
    levels; other paths are evaluated per instance. Every instance records its enclosing instance, so
    ancestors and nested instances are look-ups instead of tree walks."""

    def __init__(self, root: Node, dic: Dictionary | None = None) -> None:
        self.root = root
        self.d = dic or dictionary()
        self._instances: dict[str, list[Node]] = {}
        self._children: dict[tuple[str, Node], list[Node]] = {}  # (group, enclosing instance) -> instances
        self._parent: dict[tuple[str, Node], Node] = {}  # (group, instance) -> enclosing instance
        self._chains: dict[str, list[str]] = {}
        self._common: dict[tuple[str, str], str | None] = {}
        self._nested: dict[tuple[Node, str, str], list[Node]] = {}
        self._found: dict[str, list[Found]] = {}
        self._paths: dict[tuple[str, str], list[Node]] = {}  # (group, element path) -> nodes
        self._owners: dict[tuple[str, str], dict[Node, Node]] = {}  # same key -> node -> instance (no fixed depth)
        self._pairs: dict[str, dict[Node, list[Pair]]] = {}
        self._reach: dict[tuple[Node, str, str], list[Pair]] = {}
        self._keys: dict[tuple[str, Node], str | None] = {}
        self._given: dict[str, set[Node]] = {}
        self._regional: set[Node] | None = None  # nodes in a region's own act (regional_nodes), found once

    def _xpath(self, node: Node, path: str) -> list[Any]:
        return _compiled(path, self.d.namespaces)(node)

    def _from_all(self, nodes: list[Node], path: str) -> list[Any]:
        """`path` evaluated from every node of `nodes` in one XPath call (results in document order); from a
        single node, on that node (the same node-set, without the cost of binding a variable)."""
        if len(nodes) == 1:
            return _compiled(path, self.d.namespaces)(nodes[0])
        return _compiled(f"$i/{path}", self.d.namespaces)(self.root, i=nodes)

    def chain(self, group: str) -> list[str]:
        found = self._chains.get(group)
        if found is None:
            found = self._chains[group] = self.d.chain(group)
        return found

    def instances(self, group: str) -> list[Node]:
        found = self._instances.get(group)
        if found is not None:
            return found
        spec = self.d.groups[group]
        if spec.parent is None:
            found = self._xpath(self.root, spec.path)
        else:
            outers = self.instances(spec.parent)
            steps = _steps(spec.path)
            if not outers:
                found = []
            elif steps is not None:
                found = self._from_all(outers, spec.path)
                for node in found:
                    outer = _up(node, steps)
                    self._parent[(group, node)] = outer
                    self._children.setdefault((group, outer), []).append(node)
            else:
                found = []
                for outer in outers:
                    inner = self._xpath(outer, spec.path)
                    self._children[(group, outer)] = inner
                    for node in inner:
                        self._parent[(group, node)] = outer
                    found.extend(inner)
        self._instances[group] = found
        return found

    def siblings(self, node: Node, group: str) -> list[Node]:
        """The instances of `group` in the same enclosing instance as `node` (itself one of them)."""
        parent = self.d.groups[group].parent
        self.instances(group)
        outer = self._parent.get((group, node)) if parent else None
        return self._children.get((group, outer), []) if outer is not None else self.instances(group)

    def index(self, group: str, node: Node) -> int:
        return self.instances(group).index(node) + 1

    def ancestor(self, node: Node, group: str, node_group: str) -> Node | None:
        """The instance of `group` enclosing `node` (an instance of node_group), or None."""
        if group == node_group:
            return node
        if group not in self.chain(node_group):
            return None
        self.instances(node_group)
        current: Node | None = node
        name = node_group
        while current is not None and name != group:
            current = self._parent.get((name, current))
            name = self.d.groups[name].parent or group
        return current

    def _common_group(self, mine: str, theirs: str) -> str | None:
        key = (mine, theirs)
        if key not in self._common:
            common = None
            for a, b in zip(self.chain(mine), self.chain(theirs), strict=False):
                if a != b:
                    break
                common = a
            self._common[key] = common
        return self._common[key]

    def nested(self, node: Node, node_group: str, group: str) -> list[Node]:
        """Instances of `group` reachable from `node` (an instance of node_group) through their common
        enclosing group; of a linked group (locations.yaml `link`) only those that point at `node`."""
        key = (node, node_group, group)
        found = self._nested.get(key)
        if found is not None:
            return found
        common = self._common_group(node_group, group)
        if common is None:
            found = self.instances(group)
        else:
            base = self.ancestor(node, common, node_group)
            found = [] if base is None else [base]
            self.instances(group)
            chain = self.chain(group)
            for name in chain[chain.index(common) + 1:]:
                found = [n for outer in found for n in self._children.get((name, outer), ())]
        link = self.d.groups[group].link
        if link is not None and link.group == node_group and found:
            target = self._key(node, link.key)
            found = [n for n in found if self._key(n, link.ref) == target]
        self._nested[key] = found
        return found

    def _key(self, node: Node, path: str) -> str | None:
        """The identity of the II at `path` (its root, with its extension when it has one), or None."""
        if (path, node) not in self._keys:
            values = self._xpath(node, path)
            self._keys[(path, node)] = ii_key(values[0]) if values else None
        return self._keys[(path, node)]

    def found(self, element: Element) -> list[Found]:
        """Every node of `element` in the batch with its value and nullFlavor, in document order."""
        out = self._found.get(element.number)
        if out is not None:
            return out
        assert element.group is not None and element.node is not None
        spec = element.value or "text()"
        attr = spec[1:] if spec.startswith("@") else None
        nodes = self._nodes(element.group, element.node)
        if not element.number.startswith(regional_elements()):  # a region's item under an ICH code is not it
            if self._regional is None:
                self._regional = regional_nodes(self.root)
            if self._regional:
                nodes = [n for n in nodes if n not in self._regional]
        if attr is not None:
            out = [(n, n.get(attr) or None, n.get("nullFlavor")) for n in nodes]
        elif spec == "text()":  # value_of's text, inline: an element without children holds only .text
            out = [(n, ("".join(n.itertext()) or None) if len(n) else (n.text or None), n.get("nullFlavor"))
                   for n in nodes]
        else:
            out = [(n, value_of(n, element), n.get("nullFlavor")) for n in nodes]
        self._found[element.number] = out
        return out

    def _nodes(self, group: str, path: str) -> list[Node]:
        """The nodes at `path` from every instance of `group`, found once (a/b element pairs share a node)."""
        key = (group, path)
        nodes = self._paths.get(key)
        if nodes is None:
            instances = self.instances(group)
            if not instances:
                nodes = []
            elif _steps(path) is not None:
                nodes = self._from_all(instances, path)
            else:
                owners = self._owners[key] = {}
                nodes = []
                for inst in instances:
                    for node in self._xpath(inst, path):
                        owners[node] = inst
                        nodes.append(node)
            self._paths[key] = nodes
        return nodes

    def owner(self, node: Node, element: Element) -> Node:
        """The instance of the element's group that holds `node` (one of `found(element)`)."""
        assert element.node is not None
        steps = _steps(element.node)
        return _up(node, steps) if steps is not None else self._owners[(element.group or "", element.node)][node]

    def by_instance(self, element: Element) -> dict[Node, list[Pair]]:
        """(value, nullFlavor) of each node of `element`, by instance of the element's own group."""
        out = self._pairs.get(element.number)
        if out is None:
            out = self._pairs[element.number] = {}
            assert element.node is not None
            steps = _steps(element.node)
            found_all = self.found(element)
            owners = self._owners.get((element.group or "", element.node))
            for node, value, flavor in found_all:
                # one to three levels up (most elements) without a call
                if steps == 1:
                    inst = node.getparent()
                elif steps == 3:
                    inst = node.getparent().getparent().getparent()
                elif steps == 2:
                    inst = node.getparent().getparent()
                else:
                    inst = _up(node, steps) if steps is not None else owners[node]  # type: ignore[index]
                found = out.get(inst)
                if found is None:
                    out[inst] = [(value, flavor)]
                else:
                    found.append((value, flavor))
        return out

    def given(self, element: Element) -> set[Node]:
        """The instances of the element's own group where it has a value or a nullFlavor (not to be changed)."""
        out = self._given.get(element.number)
        if out is None:
            out = self._given[element.number] = set()
            for inst, pairs in self.by_instance(element).items():
                for value, flavor in pairs:
                    if value is not None or flavor:
                        out.add(inst)
                        break
        return out

    def pairs(self, inst: Node, element: Element) -> list[Pair]:
        """(value, nullFlavor) of each node of `element` in one instance of the element's own group."""
        return self.by_instance(element).get(inst, [])

    def reach(self, node: Node, node_group: str, element: Element) -> list[Pair]:
        """(value, nullFlavor) of `element` as seen from `node`, an instance of node_group."""
        if element.group == node_group:
            return self.by_instance(element).get(node, [])
        key = (node, node_group, element.number)
        found = self._reach.get(key)
        if found is None:
            assert element.group is not None
            bases = self.nested(node, node_group, element.group)
            found = self.pairs(bases[0], element) if len(bases) == 1 else \
                [p for base in bases for p in self.pairs(base, element)]
            self._reach[key] = found
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

    def __init__(self, checker: Checker, number: str, group: str, node: Node,
                 element: Element | None = None) -> None:
        self.args = (checker, number, group, node, element)

    def __str__(self) -> str:
        checker, number, group, node, element = self.args
        inst = checker.loc.owner(node, element) if element is not None else node
        return checker.where(number, group, inst)


class Checker:
    def __init__(self, root: Node, rule_sets: Iterable[str], locator: Locator | None = None) -> None:
        self.loc = locator if locator is not None and locator.root is root else Locator(root)
        self.d = self.loc.d
        self.sets = [rule_set(name) for name in rule_sets]
        self.ich: dict[str, Any] = next((s for s in self.sets if s.get("name") == "ich"), {})  # its tables
        self.issues: list[Issue] = []
        # issue index -> (element, null flavor or None, value length or None) of the per-element issues a
        # receiver's allowances may lift (see check_with_receiver)
        self.liftable: dict[int, tuple[str, str | None, int | None]] = {}

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
            parts.append(f"{label} {self.loc.siblings(inst, name).index(inst) + 1}")
        return f"{number} ({', '.join(parts)})" if parts else number

    def add(self, severity: str, code: str, location: str | Where, message: str, hint: str | None = None) -> None:
        self.issues.append(e2b_issue(severity, code, str(location), message, hint))

    # -- per-element checks ------------------------------------------------------------------------
    def check_elements(self) -> None:
        values = self.ich.get("values") or {}
        precision = self.ich.get("date_precision") or {}
        dates = set(self.ich.get("date_elements") or ())
        today = _today()
        extra, self.longer = allowances(self.sets)
        for element in self.d.elements.values():
            if element.group is None or element.node is None:
                continue
            instances = self.loc.instances(element.group)
            if not instances:
                continue
            found = self.loc.found(element)
            if element.conformance in ("mandatory", "required"):
                given = self.loc.given(element)
                for inst in instances:
                    if inst not in given:
                        self.add("error", "E2B-MANDATORY", self.where(element.number, element.group, inst),
                                 f"{element.name} is mandatory but missing")
            flavored = bool(element.value) and element.value != "@unit"
            limit = element.max_length if element.type not in ("Date/Time", "Boolean") else None
            limit = max(limit, self.longer.get(element.number, 0)) if limit else limit
            allowed = values.get(element.number)
            is_date = element.number in dates
            for node, value, flavor in found:
                if flavor and flavored:
                    if flavor not in element.null_flavors and flavor not in extra.get(element.number, ()):
                        self._null_flavor(element, node, flavor)
                elif value is not None and (is_date or (limit and len(value) > limit) or
                                            (allowed is not None and value not in allowed)):
                    self._check_value(element, node, value, allowed, precision.get(element.number) if is_date
                                      else None, is_date, today)

    def check_cardinality(self) -> None:
        """An element at most once per instance of its block (ICH element table; rules `max_occurs`)."""
        limits = self.ich.get("max_occurs") or {}
        for element in self.d.elements.values():
            if element.group is None or element.node is None or not self.loc.instances(element.group):
                continue
            limit = limits.get(element.number, 1)
            if len(self.loc.found(element)) <= limit:  # too few nodes in the whole batch to break it
                continue
            for inst, pairs in self.loc.by_instance(element).items():
                if len(pairs) > limit:
                    self.add("error", "E2B-CARDINALITY", self.where(element.number, element.group, inst),
                             f"{element.name} occurs {len(pairs)} times; at most {limit} allowed here")

    def _null_flavor(self, element: Element, node: Node, flavor: str) -> None:
        allowed = ", ".join(element.null_flavors) or "none"
        self.liftable[len(self.issues)] = (element.number, flavor, None)
        where = Where(self, element.number, element.group or "", node, element)
        if not element.null_flavors:  # most often the case has no value at all, which the writer says as NI
            self.add("error", "E2B-NULLFLAVOR", where,
                     f"{element.name} has no value (nullFlavor {flavor}), and {_owner(element.number)} allows no "
                     "null flavor here",
                     "give it a value: the element is required")
            return
        self.add("error", "E2B-NULLFLAVOR", where,
                 f"nullFlavor {flavor} is not allowed for {element.name} (allowed: {allowed})",
                 "give a value, or a reason for its absence that is allowed here")

    def _check_value(self, element: Element, node: Node, value: str, allowed: list[str] | None,
                     need: int | None, is_date: bool, today: dt.date) -> None:
        where = Where(self, element.number, element.group or "", node, element)
        limit = element.max_length if element.type not in ("Date/Time", "Boolean") else None
        limit = max(limit, self.longer.get(element.number, 0)) if limit else limit
        if limit and len(value) > limit:
            self.liftable[len(self.issues)] = (element.number, None, len(value))
            self.add("error", "E2B-LENGTH", where,
                     f"{element.name} is {len(value)} characters long; at most {element.max_length} allowed")
        if allowed is not None and value not in allowed:
            self.add("error", "E2B-VALUE", where, f"{value!r} is not an allowed value for {element.name}",
                     hint="allowed: " + ", ".join(allowed))
        if is_date:
            if not ts_is_valid(value):
                self.add("error", "E2B-DATE", where, f"{value!r} is not an HL7 date (CCYY[MM[DD[hhmmss]]])")
                return
            if need and ts_digits(value) < need:
                label = "to the second" if need == 14 else "to the day"
                extra = (self.ich.get("date_precision_hints") or {}).get(element.number)
                self.add("error", "E2B-DATE-PRECISION", where, f"{element.name} {value} must be precise {label}",
                         hint=f"give it {label}" + (f"; {extra}" if extra else ""))
            if ts_start(value).date() > today:
                self.add("error", "E2B-FUTURE-DATE", where, f"{element.name} {value} is in the future")

    def check_messages(self) -> None:
        meddra = [self.d.elements[n] for n in self.ich.get("meddra_elements") or () if n in self.d.elements]
        seen: dict[str, int] = {}
        for i, message in enumerate(self.loc.instances("message"), start=1):
            ids = _compiled("h:id/@extension", self.d.namespaces)(message)
            if ids:
                if ids[0] in seen:
                    self.add("error", "E2B-DUPLICATE-MESSAGE", f"N.2.r.1 (case {i})",
                             f"message id {ids[0]!r} is also used by case {seen[ids[0]]} in this batch",
                             hint="a batch carries each case once")
                seen.setdefault(ids[0], i)
            versions: set[str] = set()
            for element in meddra:
                # "15" and "15.0" name one MedDRA release (ICH's own examples write both).
                versions.update(v if "." in v else f"{v}.0"
                                for v, _ in self.loc.reach(message, "message", element) if v)
            if len(versions) > 1:
                self.add("error", "E2B-MEDDRA-VERSION", f"E.i.2.1a (case {i})",
                         f"more than one MedDRA version in one case: {', '.join(sorted(versions))}",
                         hint="re-code every term with one MedDRA release")

    # -- conditional rules -------------------------------------------------------------------------
    def holds(self, cond: dict[str, Any], node: Node, group: str) -> bool:
        return _condition(cond, self.d)(self.loc, node, group)

    def check_rules(self) -> None:
        loc = self.loc
        for data in self.sets:
            for rule in data.get("rules") or ():
                scope, whens, then, then_any = _rule(rule, self.d)
                if _is_local(rule, self.d):
                    failing: Iterable[Node] = self._failing_local(rule, scope)
                else:
                    failing = [inst for inst in loc.instances(scope)
                               if all(c(loc, inst, scope) for c in whens)
                               and not ((then is None or then(loc, inst, scope))
                                        and (not then_any or any(c(loc, inst, scope) for c in then_any)))]
                for inst in failing:
                    where = self.where(rule.get("element") or scope, scope, inst)
                    self.add(rule["severity"], rule["id"], where, rule["message"], rule.get("hint"))

    def _failing_local(self, rule: dict[str, Any], scope: str) -> list[Node]:
        """The instances a rule fails on, for a rule that reads only elements of its scope's own group:
        with set operations over the instances that hold each element (most hold few of them)."""
        instances = self.loc.instances(scope)
        if not instances:
            return []
        every = set(instances)
        applies = every
        for cond in rule.get("when") or ():
            applies = applies & self._local_set(cond, every)
            if not applies:
                return []
        holds = every
        if rule.get("then") is not None:
            holds = holds & self._local_set(rule["then"], every)
        if rule.get("then_any"):
            holds = holds & set().union(*(self._local_set(c, every) for c in rule["then_any"]))
        failing = applies - holds
        return [inst for inst in instances if inst in failing] if failing else []

    def _local_set(self, cond: dict[str, Any], every: set[Node]) -> set[Node]:
        """The instances where `cond` (on an element of their own group) holds."""
        by_instance = self.loc.by_instance(self.d.elements[cond["element"]])
        if "present" in cond:
            found = self.loc.given(self.d.elements[cond["element"]])
            if not cond["present"]:
                found = every - found
        elif "in" in cond:
            found = {i for i, pairs in by_instance.items() if any(v in cond["in"] for v, _ in pairs)}
        elif "not_in" in cond:
            found = {i for i, pairs in by_instance.items()
                     if any(v is not None and v not in cond["not_in"] for v, _ in pairs)}
        else:  # null_flavor (see _is_local)
            found = {i for i, pairs in by_instance.items() if any(f in cond["null_flavor"] for _, f in pairs)}
        return every - found if cond.get("not") else found


_LOCAL_KINDS = ("present", "in", "not_in", "null_flavor")
_LOCAL: dict[int, tuple[dict[str, Any], bool]] = {}


def _is_local(rule: dict[str, Any], d: Dictionary) -> bool:
    """Whether every condition of the rule reads an element of the rule's scope group (no nested or
    enclosing groups, no positions, no comparisons), so that it can be checked with set operations."""
    cached = _LOCAL.get(id(rule))
    if cached is not None and cached[0] is rule:
        return cached[1]
    conds = [*(rule.get("when") or ()), *([rule["then"]] if rule.get("then") is not None else []),
             *(rule.get("then_any") or ())]
    local = all("element" in c and d.elements[c["element"]].group == rule["scope"]
                and sum(k in c for k in _LOCAL_KINDS) == 1 and "same_as" not in c for c in conds)
    _LOCAL[id(rule)] = (rule, local)
    return local


Test = Callable[[Locator, Node, str], bool]
_CONDITIONS: dict[int, tuple[dict[str, Any], Test]] = {}
_RULES: dict[int, tuple[dict[str, Any], tuple[str, tuple[Test, ...], Test | None, tuple[Test, ...]]]] = {}


def _condition(cond: dict[str, Any], d: Dictionary) -> Test:
    """A rule condition (see mappings/e2b/rules/ich.yaml) as a function of (locator, instance, its group),
    built once per condition."""
    cached = _CONDITIONS.get(id(cond))
    if cached is not None and cached[0] is cond:
        return cached[1]
    test = _build_condition(cond, d)
    if cond.get("not"):
        inner = test

        def test(loc: Locator, node: Node, group: str) -> bool:
            return not inner(loc, node, group)
    _CONDITIONS[id(cond)] = (cond, test)
    return test


def _build_condition(cond: dict[str, Any], d: Dictionary) -> Test:
    if "group" in cond:
        target, want = cond["group"], bool(cond.get("present", True))
        return lambda loc, node, group: bool(loc.nested(node, group, target)) == want
    if "position" in cond:
        position = cond["position"]
        return lambda loc, node, group: loc.siblings(node, group).index(node) + 1 == position
    element = d.elements[cond["element"]]
    if "present" in cond:
        want = bool(cond["present"])
        return lambda loc, node, group: any(v is not None or f for v, f in loc.reach(node, group, element)) == want
    if "in" in cond:
        allowed = frozenset(cond["in"])
        return lambda loc, node, group: any(v in allowed for v, _ in loc.reach(node, group, element))
    if "not_in" in cond:
        excluded = frozenset(cond["not_in"])
        return lambda loc, node, group: any(v is not None and v not in excluded
                                            for v, _ in loc.reach(node, group, element))
    if "null_flavor" in cond:
        flavors = frozenset(cond["null_flavor"])
        return lambda loc, node, group: any(f in flavors for _, f in loc.reach(node, group, element))
    if "max_length" in cond:
        limit = int(cond["max_length"])
        return lambda loc, node, group: all(v is None or len(v) <= limit for v, _ in loc.reach(node, group, element))
    if "same_as" in cond:
        other = d.elements[cond["same_as"]]

        def same(loc: Locator, node: Node, group: str) -> bool:
            expected = {v for v, _ in loc.reach(node, group, other)}
            return all(v in expected for v, _ in loc.reach(node, group, element))
        return same
    return lambda loc, node, group: True


def _rule(rule: dict[str, Any], d: Dictionary) -> tuple[str, tuple[Test, ...], Test | None, tuple[Test, ...]]:
    cached = _RULES.get(id(rule))
    if cached is not None and cached[0] is rule:
        return cached[1]
    compiled = (rule["scope"], tuple(_condition(c, d) for c in rule.get("when") or ()),
                _condition(rule["then"], d) if rule.get("then") is not None else None,
                tuple(_condition(c, d) for c in rule.get("then_any") or ()))
    _RULES[id(rule)] = (rule, compiled)
    return compiled


def allowances(sets: Iterable[dict[str, Any]]) -> tuple[dict[str, set[str]], dict[str, int]]:
    """What rule sets allow beyond ICH's element table: more null flavors on an element (e.g. FDA.G.k.10a
    shares G.k.10.r's location and takes NA; `extra_null_flavors`) and longer values (`longer_values`)."""
    extra: dict[str, set[str]] = {}
    longer: dict[str, int] = {}
    for rule_data in sets:
        for number, flavors in (rule_data.get("extra_null_flavors") or {}).items():
            extra.setdefault(number, set()).update(flavors)
        for number, length in (rule_data.get("longer_values") or {}).items():
            longer[number] = max(longer.get(number, 0), int(length))
    return extra, longer


def check_with_receiver(root: Node, receiver_sets: Iterable[str],
                        locator: Locator | None = None) -> tuple[list[Issue], list[Issue]]:
    """The issues of a batch document under ICH's rule set alone and under a receiver's rule sets, as
    check() gives them for ("ich",) and for `receiver_sets`, with one pass of ICH's checks: a receiver's
    sets that include ICH's only add rules and lift per-element limits (see allowances)."""
    names = tuple(receiver_sets)
    if "ich" not in names:  # a receiver without ICH's set: nothing in common to share
        return check(root, ("ich",), locator), check(root, names, locator)
    checker = Checker(root, ("ich",), locator)
    checker.check_elements()
    checker.check_cardinality()
    checker.check_messages()
    checker.check_rules()
    others = [name for name in names if name != "ich"]
    if not others:
        return checker.issues, checker.issues
    d = checker.d
    extra, longer = allowances(rule_set(name) for name in names)

    def lifted(number: str, flavor: str | None, length: int | None) -> bool:
        if flavor is not None:
            return flavor in extra.get(number, ())
        limit = d.elements[number].max_length or 0
        return length is not None and length <= max(limit, longer.get(number, 0))

    kept = [issue for i, issue in enumerate(checker.issues)
            if i not in checker.liftable or not lifted(*checker.liftable[i])]
    receiver = Checker(root, others, checker.loc)
    receiver.check_rules()
    return checker.issues, kept + receiver.issues


def check(root: Node | etree._ElementTree, rule_sets: Iterable[str] = ("ich",),
          locator: Locator | None = None) -> list[Issue]:
    """Every business-rule issue in a batch document (root element MCCI_IN200100UV01). `locator`: one
    already made for this very document (checking it against several rule sets finds its nodes once)."""
    if isinstance(root, etree._ElementTree):
        root = root.getroot()
    checker = Checker(root, rule_sets, locator)
    checker.check_elements()
    checker.check_cardinality()
    checker.check_messages()
    checker.check_rules()
    return checker.issues


def _owner(number: str) -> str:
    """Whose table an element is in: ICH's (C.1.1, G.k.1) or a region's (FDA.G.k.12.r.4 is FDA's)."""
    return "ICH" if re.match(r"^[A-Z]\.", number) else number.split(".", 1)[0]
