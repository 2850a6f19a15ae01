"""Reversible pseudonymisation with typed, numbered placeholders (``<PERSON_1>``), stable per conversation.

* ``pseudonymise`` replaces each entity by a placeholder; the same label and exact value always get the same
  placeholder, so ``restore(pseudonymise(t, ents)) == t``.
* ``restore`` also accepts placeholders a model mangled: any case, ``_``/space/``-``/nothing between the parts,
  ``<>``, ``[]``, ``{}``, ``«»``, ``‹›``, ``＜＞``, ``&lt;&gt;`` or no brackets. Only a (label, number) pair that
  this pseudonymiser issued is replaced, and only by its own value; anything else is left as it is.
* ``stream_restorer()`` restores a streamed answer chunk by chunk, holding back a tail that could still grow into
  a placeholder.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping

from hybridgate.privacy.entity import Entity

__all__ = ["Pseudonymiser", "StreamRestorer"]

_PAIRS = {"<": ">", "[": "]", "{": "}", "«": "»", "‹": "›", "＜": "＞", "〈": "〉", "&lt;": "&gt;"}
_OPEN = "|".join(re.escape(o) for o in sorted(_PAIRS, key=len, reverse=True))
_CLOSE = "|".join(re.escape(c) for c in sorted(set(_PAIRS.values()), key=len, reverse=True))
_PLACEHOLDER = re.compile(r"^<([A-Z][A-Z_]*)_([0-9]+)>$")
_HOLD = 64


def _label_pattern(label: str) -> str:
    return r"[\s_-]*".join(re.escape(part) for part in label.split("_") if part)


def _in_json_string(value: str) -> str:
    """``value`` as it must appear inside a JSON string."""
    try:
        json.loads(f'"{value}"')
    except ValueError:
        return json.dumps(value, ensure_ascii=False)[1:-1]
    return value


class Pseudonymiser:
    """Placeholders for one conversation or request. ``mapping`` (placeholder -> original) may seed it."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self.mapping: dict[str, str] = {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._values: dict[tuple[str, int], str] = {}
        self._pattern: re.Pattern[str] | None = None
        for ph, value in (mapping or {}).items():
            m = _PLACEHOLDER.match(ph)
            if not m:
                raise ValueError(f"not a placeholder: {ph!r}")
            self._register(m.group(1), int(m.group(2)), value)

    def _register(self, label: str, num: int, value: str) -> str:
        ph = f"<{label}_{num}>"
        self.mapping[ph] = value
        self._by_value[(label, value)] = ph
        self._values[(label, num)] = value
        self._counts[label] = max(self._counts.get(label, 0), num)
        self._pattern = None
        return ph

    @staticmethod
    def _mentions(text: str, label: str, num: int) -> bool:
        pat = rf"(?<![A-Za-z0-9]){_label_pattern(label)}[\s_-]*{num}(?![0-9])"
        return re.search(pat, text, re.IGNORECASE) is not None

    def placeholder_for(self, label: str, value: str, reserved: Iterable[str] = (), source: str = "") -> str:
        """The placeholder of (label, value), issuing the next free number if new (skipping numbers that
        ``reserved`` or a placeholder-like mention in ``source`` already use)."""
        label = re.sub(r"[^A-Z_]", "_", label.upper()).strip("_") or "PII"
        ph = self._by_value.get((label, value))
        if ph is not None:
            return ph
        taken = set(reserved)
        num = self._counts.get(label, 0) + 1
        while f"<{label}_{num}>" in taken or (source and self._mentions(source, label, num)):
            num += 1
        return self._register(label, num, value)

    def pseudonymise(self, text: str, entities: list[Entity]) -> str:
        """``text`` with every entity replaced by its placeholder (overlapping entities: the first one wins)."""
        reserved = set(re.findall(r"<[A-Z][A-Z_]*_[0-9]+>", text))
        out: list[str] = []
        pos = 0
        for ent in sorted(entities, key=lambda e: (e.start, -e.end)):
            if ent.start < pos or ent.end <= ent.start:
                continue
            out.append(text[pos : ent.start])
            out.append(self.placeholder_for(ent.label, text[ent.start : ent.end], reserved, text))
            pos = ent.end
        out.append(text[pos:])
        return "".join(out)

    def _regex(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._counts:
            labels = "|".join(_label_pattern(lab) for lab in sorted(self._counts, key=len, reverse=True))
            self._pattern = re.compile(
                rf"(?P<open>{_OPEN})?(?P<ws1>[ \t]*)(?<![A-Za-z0-9])(?P<label>{labels})[\s_-]*(?P<num>[0-9]+)(?![0-9A-Za-z])"
                rf"(?P<ws2>[ \t]*)(?P<close>{_CLOSE})?",
                re.IGNORECASE,
            )
        return self._pattern

    def _resolve(self, label_text: str) -> str | None:
        key = re.sub(r"[\s_-]+", "", label_text).upper()
        for label in self._counts:
            if label.replace("_", "") == key:
                return label
        return None

    def restore(self, text: str, *, in_json: bool = False) -> str:
        """Replace issued placeholders (also mangled ones) by their originals; unknown ones stay as they are.

        ``in_json``: ``text`` is JSON (tool-call arguments, a JSON-mode answer) and its placeholders sit in JSON
        strings, so an original that would break the JSON there (a quote, backslash or line break) goes in
        escaped; one that reads as a JSON string already (it was found in JSON, e.g. tool-call arguments) as is."""
        pattern = self._regex()
        if pattern is None:
            return text

        def sub(m: re.Match[str]) -> str:
            label = self._resolve(m.group("label"))
            value = self._values.get((label, int(m.group("num")))) if label else None
            if value is None:
                return m.group(0)
            if in_json:
                value = _in_json_string(value)
            opener, closer = m.group("open") or "", m.group("close") or ""
            if opener and closer:
                return value
            # one-sided: our own "<" / ">" is consumed, other brackets belong to the surrounding text
            keep_open = m.group("ws1") if not opener else "" if opener in ("<", "&lt;") else opener
            keep_close = m.group("ws2") if not closer else "" if closer in (">", "&gt;") else closer
            return keep_open + value + keep_close

        return pattern.sub(sub, text)

    def mapping_digest(self) -> str:
        """SHA-256 hex of the mapping serialised as sorted, compact JSON (UTF-8)."""
        blob = json.dumps(sorted(self.mapping.items()), ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def stream_restorer(self, *, in_json: bool = False) -> StreamRestorer:
        return StreamRestorer(self, in_json=in_json)

    def _viable_tail(self, s: str) -> bool:
        """Whether ``s`` (a suffix of the stream so far) could still become or extend a placeholder."""
        for opener in sorted(_PAIRS, key=len, reverse=True):
            if s.startswith(opener):
                s = s[len(opener) :]
                break
            if opener.startswith(s):
                return True
        s = s.lstrip(" \t")
        if not s:
            return True
        m = re.match(r"([A-Za-z][A-Za-z\s_-]*?)([\s_-]*)([0-9]*)([ \t]*)$", s)
        if not m:
            return False
        letters = re.sub(r"[\s_-]+", "", m.group(1)).upper()
        for label in self._counts:
            flat = label.replace("_", "")
            if m.group(3):
                if letters == flat:
                    return True
            elif flat.startswith(letters):
                return True
        return False


class StreamRestorer:
    """Incremental :meth:`Pseudonymiser.restore`: ``feed`` returns text safe to emit now, ``flush`` the rest."""

    def __init__(self, pseudonymiser: Pseudonymiser, *, in_json: bool = False) -> None:
        self._p = pseudonymiser
        self._buf = ""
        self._in_json = in_json

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        buf = self._buf
        cut = len(buf)
        for i in range(max(0, len(buf) - _HOLD), len(buf)):
            ch = buf[i]
            starts = ch in "<[{&«‹＜〈" or (ch.isalpha() and (i == 0 or not buf[i - 1].isalnum()))
            if starts and self._p._viable_tail(buf[i:]):
                cut = i
                break
        self._buf = buf[cut:]
        return self._p.restore(buf[:cut], in_json=self._in_json)

    def flush(self) -> str:
        out, self._buf = self._p.restore(self._buf, in_json=self._in_json), ""
        return out
