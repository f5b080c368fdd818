// Security keys and passkeys (issue 15): runs the WebAuthn ceremonies of the
// form marked data-webauthn ("register": navigator.credentials.create, WebAuthn
// L2 §5.1.3; "authenticate": navigator.credentials.get, §5.1.4). Each ceremony
// is two same-origin form POSTs carrying their CSRF tokens: the options (whose
// challenge the server keeps in the encrypted browser cookie), then the
// credential, which the server verifies. The page holds every message.
(function () {
  "use strict";
  var form = document.querySelector("form[data-webauthn]");
  var status = document.getElementById("webauthn-status");
  if (!form || !status) { return; }

  function say(key, text) {
    status.textContent = text || status.getAttribute("data-msg-" + key) || "";
    status.setAttribute("data-state", key);
  }

  // base64url (RFC 4648 §5, no padding) to and from ArrayBuffers: the JSON
  // encoding of WebAuthn L3 §5.1.8/§5.1.9 that the server reads.
  function decode(s) {
    var b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) { out[i] = b.charCodeAt(i); }
    return out.buffer;
  }
  function encode(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, fields) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" },
      body: new URLSearchParams(fields)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { throw { fromServer: true, message: j.message || "" }; }
        return j;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (c) { return { type: c.type, id: decode(c.id), transports: c.transports }; });
  }

  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: encode(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) { out.response.userHandle = encode(r.userHandle); }
    }
    return out;
  }

  function ceremony() {
    var kind = form.getAttribute("data-webauthn");
    return post(form.getAttribute("data-options"), { csrf_token: form.getAttribute("data-csrf-options") })
      .then(function (opts) {
        var pk = opts.publicKey;
        pk.challenge = decode(pk.challenge);
        if (kind === "register") {
          pk.user.id = decode(pk.user.id);
          pk.excludeCredentials = descriptors(pk.excludeCredentials);
          return navigator.credentials.create({ publicKey: pk });
        }
        pk.allowCredentials = descriptors(pk.allowCredentials);
        return navigator.credentials.get({ publicKey: pk });
      })
      .then(function (cred) {
        var fields = { csrf_token: form.getAttribute("data-csrf"), credential: JSON.stringify(credentialJSON(cred)),
          return_to: form.getAttribute("data-return-to") || "" };
        var name = form.querySelector("input[name=name]");
        if (name) { fields.name = name.value; }
        return post(form.getAttribute("data-action"), fields);
      })
      .then(function (res) { window.location.assign(res.redirect); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!window.PublicKeyCredential || !navigator.credentials) { say("unsupported"); return; }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say("waiting");
    ceremony().catch(function (err) {
      // A cancelled or timed-out ceremony (NotAllowedError) and a refusal
      // alike: the person may try again or go back.
      button.disabled = false;
      // Only the server's own messages are shown; a browser's are technical.
      say("failed", err && err.fromServer ? err.message : "");
    });
  });
})();
