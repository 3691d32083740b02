// 抽检 Choujian planner pages: small progressive enhancements only; every form works without script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // show the failure-type boxes only for a failed verdict
  for (const form of document.querySelectorAll("form.result-form")) {
    const verdict = form.querySelector("select[name=verdict]");
    const types = form.querySelector(".types");
    if (!verdict || !types) continue;
    const sync = () => {
      const failed = verdict.value === "fail";
      types.hidden = !failed;
      for (const box of types.querySelectorAll("input")) {
        box.disabled = !failed;
        if (!failed) box.checked = false;
      }
    };
    verdict.addEventListener("change", sync);
    sync();
  }
  // a plan takes a few seconds to score: stop double submits and say it is working
  for (const form of document.querySelectorAll("form[data-testid=plan-form]")) {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = "正在生成…"; }
    });
  }
});
