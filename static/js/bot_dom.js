// Small DOM builders for the bot page: text is always set as text, never parsed as HTML.

let uid = 0;

/** An element: `h("input", {type: "time", value}, child...)`; strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "value") node.value = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A labelled control: `<label>text<control></label>`, or with `id` a separate `for`. */
export function field(text, control, hint = null) {
  const label = h("label", {}, text);
  if (hint) label.append(h("span", { class: "hint field-hint", text: hint }));
  label.append(control);
  return label;
}

/** A unique id for aria links between generated controls. */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}
