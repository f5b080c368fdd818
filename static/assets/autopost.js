// Submits the SAML auto-POST form: CSP forbids inline script, so it lives here.
// Without JavaScript the page's Continue button does the same.
document.addEventListener("DOMContentLoaded", function () {
  var f = document.getElementById("autopost");
  if (f) { f.submit(); }
});
