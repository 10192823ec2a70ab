// Calls the page's API endpoint with the session cookie and the /cpsess token in the path.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("api");
  const button = document.getElementById("call-api");
  const output = document.getElementById("api-result");
  if (!section || !button || !output) return;
  button.addEventListener("click", async () => {
    const response = await fetch(section.dataset.endpoint, { credentials: "same-origin" });
    output.textContent = response.status + " " + (await response.text());
  });
});

// A "Copy" button names the field whose text it copies (data-copy); no inline script (CSP).
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      if (!field) return;
      await navigator.clipboard.writeText(field.value || field.textContent);
      button.textContent = "Copied";
    });
  }
});

// A table with class "sortable" sorts by a column when its heading's button is pressed;
// headings marked data-nosort (actions) stay plain. The order is announced by aria-sort.
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    const headings = Array.from(table.tHead ? table.tHead.rows[0].cells : []);
    headings.forEach((heading, column) => {
      if (heading.hasAttribute("data-nosort")) return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = heading.textContent;
      heading.textContent = "";
      heading.appendChild(button);
      button.addEventListener("click", () => {
        const ascending = heading.getAttribute("aria-sort") !== "ascending";
        for (const other of headings) other.removeAttribute("aria-sort");
        heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const text = (row) => (row.cells[column] ? row.cells[column].textContent.trim() : "");
        rows.sort((a, b) => {
          const order = text(a).localeCompare(text(b), undefined, { numeric: true });
          return ascending ? order : -order;
        });
        for (const row of rows) body.appendChild(row);
      });
    });
  }
});

// A form with data-confirm asks before it is sent (destructive actions); the server still
// asks for its own confirmation field where a mistake would cost more.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
