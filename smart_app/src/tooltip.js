// A tooltip for the chart (Vega's tooltip handler API), drawn with DOM nodes and
// textContent only: no inline styles, no HTML from data (strict CSP, no injection).

export function tooltipHandler(box) {
  return function handler(_view, event, _item, value) {
    if (value == null || value === "") {
      box.hidden = true;
      return;
    }
    box.replaceChildren();
    const entries = typeof value === "object" ? Object.entries(value) : [["", String(value)]];
    const list = document.createElement("dl");
    for (const [title, shown] of entries) {
      const dt = document.createElement("dt");
      dt.textContent = title;
      const dd = document.createElement("dd");
      dd.textContent = String(shown);
      if (title === "FHIR source") dd.className = "source";
      list.append(dt, dd);
    }
    box.append(list);
    box.hidden = false;
    // Position with the CSSOM (allowed under style-src 'self'; a style attribute is not).
    const margin = 14;
    const width = box.offsetWidth;
    const left = Math.min(event.clientX + margin, window.innerWidth - width - margin);
    box.style.left = `${Math.max(margin, left) + window.scrollX}px`;
    box.style.top = `${event.clientY + margin + window.scrollY}px`;
  };
}
