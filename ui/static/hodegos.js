// Hodegos UI, the only script of our own (no inline script anywhere: the CSP forbids it).
// 1. A generated form field with data-show-if / data-signals is shown only while its condition holds, and
//    its inputs are disabled while hidden (so they are not submitted). The server applies the same rule.
// 2. "Add row" on a key/value list adds an empty row.
// 3. A form with data-confirm asks before it is submitted.
(function () {
  "use strict";
  var FALSE = ["", "false", "0", "no", "off"];

  function truthy(value) {
    return value !== null && FALSE.indexOf(String(value).trim().toLowerCase()) < 0;
  }

  function valueOf(form, name) {
    var el = form.querySelector('[name="f.' + CSS.escape(name) + '"]');
    if (!el || el.disabled) return null;
    if (el.type === "checkbox") return el.checked ? "true" : "false";
    if (el.type === "password") return el.value || el.dataset.secretSet === "true" ? "<secret>" : null;
    return el.value === "" ? null : el.value;
  }

  function holds(cond, form) {
    var value = valueOf(form, cond.field);
    var result;
    if (cond.equals !== undefined) result = value === cond.equals;
    else if (cond.notEquals !== undefined) result = value !== cond.notEquals;
    else if (cond["in"] !== undefined) result = cond["in"].indexOf(value) >= 0;
    else result = truthy(value);
    return cond.negate ? !result : result;
  }

  function update(form) {
    var signals = Array.prototype.map.call(
      form.querySelectorAll('input[name="signals"]:checked'), function (el) { return el.value; });
    var wraps = form.querySelectorAll("[data-show-if], [data-signals]");
    for (var pass = 0; pass < 3; pass++) {  // a condition may depend on a field that is itself conditional
      wraps.forEach(function (wrap) {
        var show = true;
        if (wrap.dataset.showIf) show = holds(JSON.parse(wrap.dataset.showIf), form);
        if (show && wrap.dataset.signals) {
          show = wrap.dataset.signals.split(",").some(function (s) { return signals.indexOf(s) >= 0; });
        }
        wrap.hidden = !show;
        wrap.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !show; });
      });
    }
  }

  function addRow(button) {
    var rows = button.parentNode.querySelector(".kv-rows");
    var last = rows.lastElementChild;
    var row = last.cloneNode(true);
    var index = rows.children.length + 1;
    row.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(index)));
    });
    rows.appendChild(row);
    row.querySelector("input").focus();
  }

  function setup(root) {
    root.querySelectorAll("form.generated").forEach(update);
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form.generated");
    if (form) update(form);
  });
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form.generated");
    if (form) update(form);
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-add-row]");
    if (button) { event.preventDefault(); addRow(button); }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", function () { setup(document); });
  document.addEventListener("htmx:afterSettle", function (event) { setup(event.target); });
})();
