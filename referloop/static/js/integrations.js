/* The Leads tab: add and remove optional mapping rows, re-check as the person edits, warn before losing edits. */
(function () {
  "use strict";
  var form = document.getElementById("mapping-form");
  if (!form) return;
  var dirty = form.dataset.dirty === "true";
  var unsaved = document.getElementById("unsaved-status");
  var addFields = document.getElementById("add-fields");

  function markDirty() {
    dirty = true;
    if (unsaved) unsaved.hidden = false;
  }
  function recheck() {
    markDirty();
    if (window.htmx) window.htmx.trigger(form, "mapping-changed");
  }
  function refreshAddList() {
    if (!addFields) return;
    var visible = addFields.querySelectorAll("[data-add-key]:not([hidden])").length;
    addFields.hidden = visible === 0;
  }

  form.addEventListener("input", markDirty);
  form.addEventListener("change", markDirty);
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (event) {
    if (!dirty) return;
    event.preventDefault();
    event.returnValue = "";
  });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-row]");
    if (!button) return;
    var row = button.closest("tr");
    var key = row.dataset.key;
    row.remove();
    var add = form.querySelector('[data-add-key="' + CSS.escape(key) + '"]');
    if (add) add.hidden = false;
    refreshAddList();
    if (addFields) addFields.querySelector("summary").focus();
    recheck();
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "mapping-rows") return;
    var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (trigger) trigger.hidden = true;
    refreshAddList();
    var row = event.detail.target.lastElementChild;
    var first = row && row.querySelector("select, input:not([type=hidden])");
    if (first) first.focus();
    recheck();
  });
})();
