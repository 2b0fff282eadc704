/*
 * dom.js: building the page's DOM. Every value from Redis goes in through textContent or an
 * attribute, never as markup, so metadata always shows as text (the CSP also forbids inline
 * script).
 */

const SVG_NS = "http://www.w3.org/2000/svg";

/** The element with this id. */
export function $(id) { return document.getElementById(id); }

/**
 * A new element. `props`: className, text (its textContent), dataset (an object), and any
 * other attribute (true sets it empty; null, undefined and false leave it out). Children are
 * nodes, or values shown as text.
 */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A new SVG element with these attributes. */
export function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

/** An inline icon from the page's sprite (index.html's <symbol id="i-...">). */
export function icon(name, className) {
  const node = svg("svg", { class: "icon-inline " + (className || ""), "aria-hidden": "true" });
  node.append(svg("use", { href: "#" + name }));
  return node;
}

/** Show or hide a node (Bulma's is-hidden). */
export function show(node, visible) { node.classList.toggle("is-hidden", !visible); }
