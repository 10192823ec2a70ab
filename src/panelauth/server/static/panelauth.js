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
