// Copy buttons (progressive enhancement): a <button data-copy="ID" hidden> next to the
// element ID (an input, or any element's text). The button stays hidden without JavaScript,
// where the field can still be selected and copied by hand.
"use strict";

function copyText(source) {
  const text = "value" in source ? source.value : source.textContent;
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  // Plain HTTP on another host has no clipboard API: select the field and use the old command.
  source.select?.();
  return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy"));
}

document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const label = button.textContent;
  const status = document.getElementById(button.dataset.copy + "-status");
  button.hidden = false;
  button.addEventListener("click", () => {
    copyText(source).then(
      () => {
        button.textContent = "Copied";
        if (status) status.textContent = "The key is on the clipboard.";
      },
      () => {
        source.select?.();
        if (status) status.textContent = "Copying failed: the key is selected, copy it by hand.";
      },
    );
    setTimeout(() => { button.textContent = label; }, 3000);
  });
});
