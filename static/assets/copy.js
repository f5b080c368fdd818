// Copy buttons of read-only fields (the SP details an admin gives an IdP).
// Without JavaScript a click on the button selects the value it holds
// (user-select: all) for the person to copy; this copies it to the clipboard
// and selects it in its field.
document.addEventListener("click", function (e) {
  var b = e.target.closest("[data-copy]");
  if (!b) { return; }
  var f = document.getElementById(b.getAttribute("data-copy"));
  if (!f) { return; }
  f.focus();
  f.select();
  if (navigator.clipboard) {
    navigator.clipboard.writeText(f.value).then(function () { b.setAttribute("aria-label", "Copied"); }, function () {});
  }
});
