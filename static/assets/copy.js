// Copy buttons of read-only fields (the SP details an admin gives an IdP).
// Without JavaScript the button, a label, focuses the field and its text is
// selected by hand or by the field's user-select: all; this copies it too.
document.addEventListener("click", function (e) {
  var b = e.target.closest("[data-copy]");
  if (!b) { return; }
  var f = document.getElementById(b.getAttribute("data-copy"));
  if (!f) { return; }
  e.preventDefault();
  f.focus();
  f.select();
  if (navigator.clipboard) {
    navigator.clipboard.writeText(f.value).then(function () { b.textContent = "Copied"; });
  }
});
