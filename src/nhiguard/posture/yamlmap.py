"""YAML documents with the line of every node: CI checks point at the job, step or key.

Scalars stay strings (YAML 1.1 would read GitHub's `on:` key as `true`), mappings and lists
remember their line and their keys' lines. Anchors and merge keys (`<<:`, common in GitLab
CI) are resolved."""

from __future__ import annotations

from typing import Any

import yaml


class YMap(dict):
    """A mapping with the 1-based line of itself (`line`) and of each key (`lines`)."""

    line: int = 1
    lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


class YList(list):
    line: int = 1
    lines: list[int]
    tag: str = ""  # a local tag such as GitLab's `!reference`

class YStr(str):
    line: int = 1
    block: bool = False  # a `|` or `>` scalar: its text starts on the line after `line`


def _convert(node: yaml.Node, memo: dict[int, Any]) -> Any:
    if id(node) in memo:
        return memo[id(node)]
    if isinstance(node, yaml.MappingNode):
        out = YMap()
        out.line = node.start_mark.line + 1
        out.lines = {}
        memo[id(node)] = out
        merges: list[Any] = []
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag.endswith(":merge") or getattr(k, "value", None) == "<<":
                merged = _convert(v, memo)
                merges.extend(merged if isinstance(merged, list) else [merged])
                continue
            key = str(k.value) if isinstance(k, yaml.ScalarNode) else str(_convert(k, memo))
            out[key] = _convert(v, memo)
            out.lines[key] = k.start_mark.line + 1
        for m in merges:  # explicit keys win over merged ones
            if isinstance(m, YMap):
                for key, value in m.items():
                    if key not in out:
                        out[key] = value
                        out.lines[key] = m.line_of(key)
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = YList()
        seq.line = node.start_mark.line + 1
        seq.tag = node.tag if node.tag.startswith("!") and not node.tag.startswith("!!") else ""
        memo[id(node)] = seq
        seq.extend(_convert(v, memo) for v in node.value)
        seq.lines = [v.start_mark.line + 1 for v in node.value]
        return seq
    s = YStr(node.value if node.value is not None else "")
    s.line = node.start_mark.line + 1
    s.block = node.style in ("|", ">")
    return s


def load(text: str) -> list[Any]:
    """Every document of a YAML text, as YMap/YList/YStr; yaml.YAMLError on bad YAML."""
    loader = yaml.SafeLoader(text)
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            docs.append(None if node is None else _convert(node, {}))
        return docs
    finally:
        loader.dispose()


def text(value: Any) -> str:
    """A scalar as text ('' for anything else), for code that only wants strings."""
    return str(value) if isinstance(value, str) else ""


def line_of(value: Any, default: int = 1) -> int:
    return getattr(value, "line", default)


def text_line(value: Any, n: int, default: int = 1) -> int:
    """The file line of line `n` (from 0) of a scalar's text."""
    return line_of(value, default) + getattr(value, "block", False) + n
