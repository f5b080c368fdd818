// Copy buttons of read-only fields (the SP details an admin gives an IdP).
// Without JavaScript a click on the button selects the value it holds
// (user-select: all) for the person to copy; this copies it to the clipboard
// and selects it in its field.
function copyFrom(e) {
  var b = e.target.closest("[data-copy]");
  if (!b) { return; }
  var f = document.getElementById(b.getAttribute("data-copy"));
  if (!f) { return; }
  f.focus();
  f.select();
  if (navigator.clipboard) {
    navigator.clipboard.writeText(f.value).then(function () { b.setAttribute("aria-label", "Copied"); }, function () {});
  }
}
document.addEventListener("click", copyFrom);
// The button is a focusable span: Enter and Space act as on a button.
document.addEventListener("keydown", function (e) {
  if ((e.key === "Enter" || e.key === " ") && e.target.closest("[data-copy]")) {
    e.preventDefault();
    copyFrom(e);
  }
});
