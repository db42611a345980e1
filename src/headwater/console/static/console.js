// Headwater console: the only script. A copy button for text shown once (a new key's
// token). No inline handlers: the CSP allows scripts from this origin only.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  var text = source.textContent;
  var done = function () { button.textContent = "Copied"; };
  // The clipboard API may refuse (no focus, no permission): then the older command copies
  // the selected text, and failing that the text stays selected to copy by hand.
  var fallback = function () {
    select(source);
    try { if (document.execCommand("copy")) done(); } catch (e) { /* copy by hand */ }
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, fallback);
  } else {
    fallback();
  }
});
function select(node) {
  var range = document.createRange();
  range.selectNodeContents(node);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}
