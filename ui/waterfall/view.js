// The virtualized waterfall: a scroll box as tall as every row, and a small pool of row
// elements recycled for the rows in view. Row state lives in the model's typed arrays; only
// the ~50 rows on screen exist as elements, so 100,000 spans scroll like 100.

import { h } from "../lib/dom.js";
import { formatMs } from "../lib/time.js";
import { seriesColor } from "../charts/canvas.js";
import { CRITICAL, ERROR, HAS_CHILDREN, SKEW, collapseBelow, reveal, visibleRows } from "./model.js";

const ROW = 28;
const OVERSCAN = 12;
/** Browsers cap an element's height (Firefox near 17.9 M px); past it rows are scaled. */
const MAX_SCROLL_PX = 15_000_000;

export class Waterfall {
  /**
   * @param {HTMLElement} holder @param {import("./model.js").Model} model
   * @param {{onSelect: (index: number) => void, onWindow?: (from: number, to: number) => void}} hooks
   */
  constructor(holder, model, hooks) {
    this.model = model;
    this.hooks = hooks;
    this.collapsed = new Uint8Array(model.count);
    this.matches = null;
    this.onlyMatches = false;
    this.showCritical = false;
    this.selected = -1;
    this.from = 0;
    this.to = model.total;
    this.pool = [];
    this.spacer = h("div", { class: "spacer" });
    this.layer = h("div", { class: "wf-layer" });
    this.box = h("div", { class: "rows", tabindex: "0", role: "grid", "aria-label": "Spans", "data-testid": "waterfall" }, this.spacer, this.layer);
    holder.append(this.box);
    this.box.addEventListener("scroll", () => this.schedule());
    this.box.addEventListener("click", (event) => this.click(event));
    new ResizeObserver(() => this.schedule()).observe(this.box);
    this.refresh();
  }

  /** Recomputes which rows exist (after collapsing or filtering) and redraws. */
  refresh() {
    this.rows = visibleRows(this.model, this.collapsed, this.matches, this.onlyMatches);
    this.rowOf = null;
    const height = this.rows.length * ROW;
    this.scale = height > MAX_SCROLL_PX ? height / MAX_SCROLL_PX : 1;
    this.spacer.style.height = `${Math.min(height, MAX_SCROLL_PX) + ROW}px`;
    this.draw();
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.draw();
    });
  }

  /** The row a span has now, or -1 (filtered out or inside a collapsed subtree). */
  rowIndex(span) {
    if (!this.rowOf) {
      this.rowOf = new Int32Array(this.model.count).fill(-1);
      this.rows.forEach((s, r) => (this.rowOf[s] = r));
    }
    return this.rowOf[span];
  }

  draw() {
    const top = this.box.scrollTop * this.scale;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + this.box.clientHeight) / ROW) + OVERSCAN);
    // Rows are placed relative to the scaled scroll position, so they sit under the viewport.
    const offset = this.box.scrollTop - top;
    while (this.pool.length < last - first) this.pool.push(this.makeRow());
    for (let slot = 0; slot < this.pool.length; slot++) {
      const row = this.pool[slot];
      const r = first + slot;
      if (r >= last) {
        row.element.style.display = "none";
        continue;
      }
      row.element.style.display = "";
      row.element.style.transform = `translateY(${r * ROW + offset}px)`;
      this.fill(row, this.rows[r], r);
    }
  }

  makeRow() {
    const toggle = h("span", { class: "wf-toggle" });
    const swatch = h("span", { class: "swatch" });
    const service = h("span", { class: "wf-service" });
    const name = h("span", { class: "wf-op" });
    const flag = h("span", { class: "wf-flag" });
    const label = h("div", { class: "wf-name" }, toggle, swatch, service, name, flag);
    const bar = h("div", { class: "wf-bar" });
    const duration = h("span", { class: "wf-dur" });
    const marks = h("div", { class: "wf-marks" });
    const lane = h("div", { class: "wf-lane" }, bar, marks, duration);
    const element = h("div", { class: "wf-row", role: "row" }, label, lane);
    this.layer.append(element);
    return { element, toggle, swatch, service, name, flag, label, bar, duration, marks, span: -2 };
  }

  /** Writes one span into a pooled row element. */
  fill(row, i, r) {
    const m = this.model;
    const span = m.spans[i];
    const flags = m.flags[i];
    const colour = seriesColor(m.service[i]);
    row.element.dataset.span = span.span_id;
    row.element.dataset.row = String(r);
    row.element.classList.toggle("selected", i === this.selected);
    row.element.classList.toggle("match", !!(this.matches && this.matches[i]));
    row.element.classList.toggle("error", !!(flags & ERROR));
    row.element.setAttribute("aria-selected", i === this.selected ? "true" : "false");
    if (row.span !== i) {
      row.span = i;
      row.label.style.paddingLeft = `${6 + Math.min(m.depth[i], 40) * 14}px`;
      row.toggle.textContent = flags & HAS_CHILDREN ? (this.collapsed[i] ? "▸" : "▾") : "";
      row.swatch.style.background = colour;
      row.service.textContent = m.services[m.service[i]];
      row.name.textContent = span.name;
      row.label.title = `${span.service} · ${span.name}${m.depth[i] > 40 ? ` (depth ${m.depth[i]})` : ""}`;
      row.flag.textContent = flags & SKEW ? "⚠" : "";
      row.flag.title = flags & SKEW ? "Clock skew: this span starts before or ends after its parent" : "";
    } else {
      row.toggle.textContent = flags & HAS_CHILDREN ? (this.collapsed[i] ? "▸" : "▾") : "";
    }
    const width = this.to - this.from || 1;
    const left = ((m.start[i] - this.from) / width) * 100;
    const length = Math.max((m.duration[i] / width) * 100, 0.15);
    row.bar.style.left = `${left}%`;
    row.bar.style.width = `${length}%`;
    row.bar.style.background = flags & ERROR ? "var(--fault)" : colour;
    row.bar.classList.toggle("critical", this.showCritical && !!(flags & CRITICAL));
    row.duration.textContent = formatMs(m.duration[i]);
    row.duration.style.left = `calc(${Math.min(Math.max(left + length, 0), 92)}% + 4px)`;
    this.fillMarks(row, i, span, width);
  }

  /** Events as dots on the bar, links as a chain mark, critical segments as a stripe. */
  fillMarks(row, i, span, width) {
    const key = `${i}|${this.from}|${this.to}|${this.showCritical}`;
    if (row.marksKey === key) return;
    row.marksKey = key;
    const marks = [];
    const at = (ms) => `${((ms - this.from) / width) * 100}%`;
    for (const event of span.events.slice(0, 64)) {
      const ms = this.model.start[i] + event.offset_nano / 1e6;
      marks.push(h("span", { class: `wf-event${event.name === "exception" ? " exception" : ""}`, style: `left:${at(ms)}`, title: event.name, "data-event": event.name }));
    }
    if (span.links.length) {
      marks.push(h("span", { class: "wf-link", style: `left:${at(this.model.start[i])}`, title: `${span.links.length} link(s)` }, "🔗"));
    }
    if (this.showCritical) {
      const segments = this.model.critical.get(i);
      for (let k = 0; segments && k < segments.length; k += 2) {
        marks.push(h("span", { class: "wf-critical", style: `left:${at(segments[k])};width:${((segments[k + 1] - segments[k]) / width) * 100}%` }));
      }
    }
    row.marks.replaceChildren(...marks);
  }

  click(event) {
    const element = event.target.closest(".wf-row");
    if (!element) return;
    const r = Number(element.dataset.row);
    const i = this.rows[r];
    if (event.target.closest(".wf-toggle") && this.model.flags[i] & HAS_CHILDREN) {
      this.toggle(i);
      return;
    }
    this.select(i);
  }

  toggle(i, open) {
    this.collapsed[i] = open === undefined ? (this.collapsed[i] ? 0 : 1) : open ? 0 : 1;
    this.refresh();
  }

  collapseAll(level = 1) {
    collapseBelow(this.model, this.collapsed, level);
    if (this.selected >= 0) reveal(this.model, this.collapsed, this.selected);
    this.refresh();
  }

  expandAll() {
    this.collapsed.fill(0);
    this.refresh();
  }

  /** Selects a span: opens its ancestors, scrolls it into view and tells the page. */
  select(i, { scroll = true } = {}) {
    if (i < 0 || i >= this.model.count) return;
    this.selected = i;
    if (this.rowIndex(i) < 0 && !this.onlyMatches) {
      reveal(this.model, this.collapsed, i);
      this.refresh();
    }
    if (scroll) this.scrollTo(i);
    this.draw();
    this.hooks.onSelect(i);
  }

  scrollTo(i) {
    const r = this.rowIndex(i);
    if (r < 0) return;
    const y = (r * ROW) / this.scale;
    const view = this.box.clientHeight;
    if (y < this.box.scrollTop || y + ROW > this.box.scrollTop + view) this.box.scrollTop = Math.max(0, y - view / 3);
  }

  /** Moves the selection by `delta` rows (j/k and the arrows). */
  step(delta) {
    if (!this.rows.length) return;
    const r = this.selected >= 0 ? this.rowIndex(this.selected) : -1;
    const next = Math.min(this.rows.length - 1, Math.max(0, r < 0 ? 0 : r + delta));
    this.select(this.rows[next]);
  }

  /** Selects the next span (after the selected one, wrapping) whose flag or match is set. */
  next(test) {
    const n = this.model.count;
    for (let k = 1; k <= n; k++) {
      const i = (Math.max(this.selected, -1) + k + n) % n;
      if (test(i)) {
        this.select(i);
        return true;
      }
    }
    return false;
  }

  /** Shows only [from, to) ms of the trace across the lane (the minimap's zoom). */
  setWindow(from, to) {
    this.from = Math.max(0, from);
    this.to = Math.min(this.model.total, to) > this.from ? Math.min(this.model.total, to) : this.model.total;
    this.draw();
    if (this.hooks.onWindow) this.hooks.onWindow(this.from, this.to);
  }
}
