/* reports/index.html: sorting, filtering, column groups, run details (inlined by reports/page.py). */
"use strict";
(function () {
  function cellValue(row, col) {
    var cell = row.cells[col];
    if (!cell) return null;
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim() : v;
  }

  // Sort a table's body rows by one column; empty values always last; stable.
  function sortTable(table, col, th) {
    var numeric = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var rows = Array.prototype.slice.call(body.rows).map(function (row, index) {
        var raw = cellValue(row, col);
        var key = raw === null || raw === "" ? null : (numeric ? parseFloat(raw) : raw.toLowerCase());
        if (numeric && key !== null && isNaN(key)) key = null;
        return { row: row, key: key, index: index };
      });
      rows.sort(function (a, b) {
        if (a.key === null || b.key === null) {
          if (a.key === b.key) return a.index - b.index;
          return a.key === null ? 1 : -1;
        }
        if (a.key < b.key) return -sign;
        if (a.key > b.key) return sign;
        return a.index - b.index;
      });
      rows.forEach(function (r) { body.appendChild(r.row); });
    });
  }

  function setUpSorting() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      if (!table.tHead) return;
      var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
      Array.prototype.forEach.call(heads, function (th, col) {
        th.setAttribute("tabindex", "0");
        th.setAttribute("title", (th.getAttribute("title") ? th.getAttribute("title") + " \u2014 " : "") + "click to sort");
        th.addEventListener("click", function () { sortTable(table, col, th); });
        th.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, col, th); }
        });
      });
    });
  }

  // Filter the rows of every filterable table by method text and family.
  function applyFilters() {
    var text = (document.getElementById("filter-method").value || "").trim().toLowerCase();
    var family = document.getElementById("filter-family").value;
    document.querySelectorAll("table.filterable").forEach(function (table) {
      var shown = 0, total = 0;
      Array.prototype.forEach.call(table.tBodies, function (body) {
        Array.prototype.forEach.call(body.rows, function (row) {
          total += 1;
          var label = (row.getAttribute("data-label") || "").toLowerCase();
          var ok = (!text || label.indexOf(text) >= 0) &&
                   (!family || row.getAttribute("data-family") === family);
          row.classList.toggle("filtered-out", !ok);
          if (ok) shown += 1;
        });
      });
      var counter = document.getElementById(table.id + "-count");
      if (counter) counter.textContent = shown === total ? total + " rows" : shown + " of " + total + " rows shown";
    });
  }

  function setUpFilters() {
    var method = document.getElementById("filter-method");
    var family = document.getElementById("filter-family");
    if (!method || !family) return;
    method.addEventListener("input", applyFilters);
    family.addEventListener("change", applyFilters);
    applyFilters();
  }

  function setUpGroups() {
    document.querySelectorAll("input[data-group]").forEach(function (box) {
      var apply = function () {
        document.body.classList.toggle("hide-" + box.getAttribute("data-group"), !box.checked);
      };
      box.addEventListener("change", apply);
      apply();
    });
  }

  // Open (and scroll to) the run details an anchor points at.
  function openTarget(hash) {
    if (!hash || hash.length < 2) return;
    var el = document.getElementById(decodeURIComponent(hash.slice(1)));
    if (!el) return;
    for (var p = el; p; p = p.parentElement) {
      if (p.tagName === "DETAILS") p.open = true;
    }
    document.querySelectorAll("details.highlight").forEach(function (d) { d.classList.remove("highlight"); });
    if (el.tagName === "DETAILS") el.classList.add("highlight");
    el.scrollIntoView({ block: "start" });
  }

  function setUpDetails() {
    document.addEventListener("click", function (e) {
      var a = e.target.closest ? e.target.closest("a[href^='#']") : null;
      if (!a) return;
      var target = document.getElementById(decodeURIComponent(a.getAttribute("href").slice(1)));
      if (target && target.tagName === "DETAILS") {
        e.preventDefault();
        if (history.replaceState) history.replaceState(null, "", a.getAttribute("href"));
        openTarget(a.getAttribute("href"));
      }
    });
    window.addEventListener("hashchange", function () { openTarget(location.hash); });
    openTarget(location.hash);
    document.querySelectorAll("button[data-details]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = button.getAttribute("data-details") === "open";
        document.querySelectorAll("details.run").forEach(function (d) { d.open = open; });
      });
    });
  }

  function setUpGallery() {
    document.querySelectorAll(".gallery img").forEach(function (img) {
      img.addEventListener("click", function () {
        img.closest("figure").classList.toggle("enlarged");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpSorting();
    setUpFilters();
    setUpGroups();
    setUpDetails();
    setUpGallery();
  });
})();
