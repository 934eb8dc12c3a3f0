// Building the page's elements. Every string from the server or the user becomes a
// text node (or a property such as `value`), never markup: there is no innerHTML here.

const MARKUP_SINKS = new Set(["innerHTML", "outerHTML", "insertAdjacentHTML", "srcdoc"]);

/**
 * el("td", {class: "num", dataset: {orderId: 7}, onclick: fn}, "text", childNode, ...)
 * Properties that the element has (value, type, disabled, title...) are set as
 * properties, other names as attributes; `on<event>` adds a listener; children that are
 * not nodes become text nodes.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (MARKUP_SINKS.has(key)) throw new Error(`${key} is not allowed`);
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`no element #${id}`);
  return node;
}

export function setText(node, value) {
  node.textContent = value === undefined || value === null ? "" : String(value);
}

export function pad(number) {
  return String(number).padStart(2, "0");
}

/** HH:MM:SS of a Unix time in milliseconds, local time. */
export function clock(ms) {
  const date = new Date(ms);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** YYYY-MM-DD HH:MM:SS, local time. */
export function dateTime(ms) {
  const date = new Date(ms);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clock(ms)}`;
}

/** A table body's rows, replaced at once. */
export function fillRows(tbody, rows, emptyText, columns) {
  if (rows.length === 0) {
    tbody.replaceChildren(el("tr", { class: "empty" }, el("td", { colSpan: columns }, emptyText)));
  } else {
    tbody.replaceChildren(...rows);
  }
}
