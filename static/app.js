// Confirmation before irreversible actions: <form data-confirm="message">.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// Long choice lists (the Intel tab's share form): select all of a group, filter it, count.
function updateChoiceCounts(form) {
  for (const group of form.querySelectorAll("[data-choice-group]")) {
    const count = group.querySelector("[data-group-count]");
    if (count) {
      count.textContent = group.querySelectorAll(".choices input:checked").length.toLocaleString("en");
    }
  }
  for (const total of form.querySelectorAll("[data-count-of]")) {
    const name = total.getAttribute("data-count-of");
    total.textContent = form.querySelectorAll(`input[name="${name}"]:checked`).length.toLocaleString("en");
  }
}
document.addEventListener("change", (event) => {
  const form = event.target.closest("[data-choice-counts]");
  if (!form) return;
  if (event.target.matches("[data-select-all]")) {
    const group = event.target.closest("[data-choice-group]");
    for (const box of group.querySelectorAll(".choices input[type=checkbox]")) {
      if (!box.closest("label").hidden) box.checked = event.target.checked;
    }
  }
  updateChoiceCounts(form);
});
document.addEventListener("input", (event) => {
  if (!event.target.matches("[data-filter]")) return;
  const needle = event.target.value.trim().toLowerCase();
  const group = event.target.closest("[data-choice-group]");
  for (const label of group.querySelectorAll(".choices label")) {
    label.hidden = needle !== "" && !label.textContent.toLowerCase().includes(needle);
  }
});

// The top menu on a narrow screen: folded behind its button (CSS shows the button there only).
document.documentElement.classList.add("js");
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".menu-toggle");
  if (!toggle) return;
  const menu = document.getElementById(toggle.getAttribute("aria-controls"));
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", String(open));
  menu.classList.toggle("open", open);
});
