// Progressive enhancement only: the pages work the same without it.
// A tapped button is disabled at once, so a slow 2G link does not post twice.
"use strict";
document.addEventListener("submit", function (ev) {
  var b = ev.target.querySelector("button[type=submit]");
  if (b) { setTimeout(function () { b.disabled = true; }, 0); }
});
