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
