// fieldledger dashboard: small progressive enhancements. Every page works without this file.
"use strict";

// Click a column header of a table.sortable to sort its rows; click again to reverse.
// Columns marked data-type="num" sort as numbers; others as Chinese-aware text.
function cellText(row, index) {
  const cell = row.cells[index];
  return cell ? cell.textContent.trim() : "";
}

function sortTable(table, index, numeric, ascending) {
  const body = table.tBodies[0];
  if (!body) return;
  const collator = new Intl.Collator("zh-CN", { numeric: true });
  const rows = Array.from(body.rows);
  rows.sort(function (a, b) {
    const x = cellText(a, index);
    const y = cellText(b, index);
    let order;
    if (numeric) {
      const nx = parseFloat(x);
      const ny = parseFloat(y);
      order = (isNaN(nx) ? -Infinity : nx) - (isNaN(ny) ? -Infinity : ny);
    } else {
      order = collator.compare(x, y);
    }
    return ascending ? order : -order;
  });
  rows.forEach(function (row) { body.appendChild(row); });
}

function makeSortable(table) {
  const head = table.tHead;
  if (!head || !head.rows.length) return;
  Array.from(head.rows[0].cells).forEach(function (th, index) {
    if (!th.textContent.trim()) return;
    th.classList.add("sort");
    th.tabIndex = 0;
    th.title = "点击排序";
    function activate() {
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.from(head.rows[0].cells).forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      sortTable(table, index, th.dataset.type === "num", ascending);
    }
    th.addEventListener("click", activate);
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); activate(); }
    });
  });
}

// Forms with data-confirm ask before they are sent (revoking a device).
function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  confirmForms();
});
