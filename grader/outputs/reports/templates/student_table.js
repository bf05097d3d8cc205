/* Sorts and filters the dashboard's student table. The table reads the same without it: the
   page's CSP allows this script by its hash and no other. Values come from data-value and
   data-search, computed by the grader; nothing here is inserted as HTML. */
(function () {
  "use strict";
  var table = document.getElementById("students-table");
  var tools = document.getElementById("students-tools");
  var filter = document.getElementById("students-filter");
  var shown = document.getElementById("students-shown");
  if (!table || !tools || !filter || !shown) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  tools.hidden = false;

  function key(row, column, numeric) {
    var cell = row.cells[column];
    var value = cell.getAttribute("data-value");
    if (value === null) { value = cell.textContent.trim(); }
    return numeric ? parseFloat(value) : value.toLowerCase();
  }

  headers.forEach(function (header, column) {
    var kind = header.getAttribute("data-sort");
    if (!kind) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    while (header.firstChild) { button.appendChild(header.firstChild); }
    header.appendChild(button);
    button.addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var numeric = kind === "number";
      rows.sort(function (first, second) {
        var a = key(first, column, numeric), b = key(second, column, numeric);
        var order = numeric ? a - b : a.localeCompare(b);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });

  filter.addEventListener("input", function () {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-search") || "";
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      row.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = words.length ? count + " of " + rows.length + " students shown" : "";
  });
})();
