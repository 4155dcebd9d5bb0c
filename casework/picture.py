"""The workflow picture, drawn from the machine definition as SVG.

States are placed in columns by their distance from the initial state; a case's path (the
states and events in its history) is drawn in colour and its current state filled.
"""
from __future__ import annotations

from collections import deque
from html import escape

from state_machines.case_workflow import EVENTS, FINAL, INITIAL, STATES

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 140, 44, 120, 90, 50


def _layout() -> dict[str, tuple[int, int]]:
    depth = {INITIAL: 0}
    queue = deque([INITIAL])
    while queue:
        state = queue.popleft()
        for event in EVENTS:
            if event.source == state and event.target not in depth:
                depth[event.target] = depth[state] + 1
                queue.append(event.target)
    rows: dict[int, int] = {}
    places = {}
    for state in STATES:  # declaration order keeps the picture stable
        if state in FINAL:
            continue
        column = depth[state]
        row = rows.get(column, 0)
        rows[column] = row + 1
        places[state] = (MARGIN + column * (NODE_W + GAP_X), MARGIN + row * (NODE_H + GAP_Y))
    bottom = MARGIN + max(rows.values()) * (NODE_H + GAP_Y)  # final states: their own row
    for state in FINAL:
        places[state] = (MARGIN + depth[state] * (NODE_W + GAP_X), bottom)
    return places


PLACES = _layout()


def workflow_svg(labels: dict[str, str], *, events: dict[str, str] | None = None,
                 current: str | None = None, visited: set[str] = frozenset(),
                 taken: set[str] = frozenset(), title: str = "workflow") -> str:
    """SVG of the workflow; ``labels`` names the states, ``events`` the arrows and
    ``title`` the picture in the reader's language."""
    width = max(x for x, _ in PLACES.values()) + NODE_W + MARGIN
    height = max(y for _, y in PLACES.values()) + NODE_H + MARGIN + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="12">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
             '<path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>']
    for event in EVENTS:
        parts.append(_edge(event.name, (events or {}).get(event.name, event.name), event.source,
                           event.target, event.name in taken))
    for state in STATES:
        x, y = PLACES[state]
        fill = "#0b5cad" if state == current else ("#e8f1fb" if state in visited else "#fff")
        ink = "#fff" if state == current else "#1d2733"
        stroke = "#0b5cad" if state in visited or state == current else "#98a2b3"
        parts.append(f'<g class="state" data-state="{state}"><rect x="{x}" y="{y}" '
                     f'width="{NODE_W}" height="{NODE_H}" rx="8" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="{2 if state in visited else 1}"/>'
                     f'<text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + 4}" fill="{ink}" '
                     f'text-anchor="middle">{escape(labels.get(state, state))}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _edge(name: str, label_text: str, source: str, target: str, taken: bool) -> str:
    (sx, sy), (tx, ty) = PLACES[source], PLACES[target]
    if source == target:  # an event that keeps the state: a loop over the box
        x = sx + NODE_W / 2
        path = f"M{x - 20},{sy} C{x - 30},{sy - 40} {x + 30},{sy - 40} {x + 20},{sy}"
        label = (x, sy - 34)
    elif sy == ty and tx > sx:  # forward along a row: straight
        start, end = (sx + NODE_W, sy + NODE_H / 2), (tx, ty + NODE_H / 2)
        path = f"M{start[0]},{start[1]} L{end[0]},{end[1]}"
        label = ((start[0] + end[0]) / 2, start[1] - 6)
    elif sy == ty:  # back along a row: an arc over the boxes
        start, end = (sx + NODE_W / 2 - 20, sy), (tx + NODE_W / 2 + 20, ty)
        top = sy - 28
        path = f"M{start[0]},{start[1]} C{start[0]},{top} {end[0]},{top} {end[0]},{end[1]}"
        label = ((start[0] + end[0]) / 2, top + 2)
    else:  # to another row: leave from the bottom or top, arrive at the facing side
        down = ty > sy
        start = (sx + NODE_W / 2 + (12 if down else -12), sy + NODE_H if down else sy)
        if tx == sx:
            end = (tx + NODE_W / 2 + (12 if down else -12), ty if down else ty + NODE_H)
        else:
            end = (tx if tx > sx else tx + NODE_W, ty + NODE_H / 2)
        path = f"M{start[0]},{start[1]} Q{start[0]},{end[1]} {end[0]},{end[1]}"
        label = (start[0], start[1] + (16 if down else -8))
    colour = "#0b5cad" if taken else "#98a2b3"
    return (f'<g class="event" data-event="{name}"><path d="{path}" fill="none" '
            f'stroke="{colour}" stroke-width="{2 if taken else 1}" marker-end="url(#arrow)"/>'
            f'<text x="{label[0]}" y="{label[1]}" fill="{colour}" text-anchor="middle" '
            f'font-size="10" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f'{escape(label_text)}</text></g>')
