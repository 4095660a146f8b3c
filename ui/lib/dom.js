// A tiny element builder and the few shared widgets (toast, tooltip, copy) the pages use.

/**
 * Builds an element. Attributes starting with "on" become listeners; `class`, `text`, `html`
 * are shorthands; children are nodes or strings (strings become text, never HTML).
 * @param {string} tag @param {Record<string, any>} [attrs] @param {...any} children
 */
export function h(tag, attrs = {}, ...children) {
  const element = tag === "svg" || attrs.svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false || name === "svg") continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "class") element.setAttribute("class", value);
    else if (name === "text") element.textContent = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "value" && "value" in element) element.value = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An SVG element (namespaced), with attributes as `h` takes them. */
export function s(tag, attrs = {}, ...children) {
  return h(tag, { ...attrs, svg: true }, ...children);
}

let toastTimer = 0;
/** A short message at the bottom of the page. */
export function toast(text) {
  const element = document.getElementById("toast");
  element.textContent = text;
  element.classList.add("shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => element.classList.remove("shown"), 1800);
}

/** A button that copies `text` (or what `text()` answers) to the clipboard. */
export function copyButton(text, label = "copy") {
  return h("button", {
    class: "copy",
    type: "button",
    title: "Copy to the clipboard",
    onclick: async (event) => {
      event.stopPropagation();
      const value = typeof text === "function" ? text() : text;
      try {
        await navigator.clipboard.writeText(value);
        toast("Copied");
      } catch {
        toast("The browser refused the clipboard");
      }
    },
  }, label);
}

/** One floating tooltip shared by every chart. */
let tip = null;
export function showTip(x, y, text) {
  if (!tip) {
    tip = h("div", { class: "tooltip" });
    document.body.append(tip);
  }
  tip.textContent = text;
  tip.style.display = "block";
  const width = tip.offsetWidth;
  tip.style.left = `${Math.min(x + 12, window.innerWidth - width - 8)}px`;
  tip.style.top = `${y + 14}px`;
}
export function hideTip() {
  if (tip) tip.style.display = "none";
}

/** The problem box a page shows when a call fails. */
export function problem(text) {
  return h("div", { class: "problem", role: "alert" }, text);
}
