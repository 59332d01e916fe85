// Studio's only hand-written JavaScript, a static file so the Content-Security-Policy can forbid
// inline script and eval.

// htmx's configuration, set before htmx starts (both scripts are deferred, htmx first). No
// eval (hx-trigger filters, js: values): the policy forbids it. No <style> injected for
// indicators: the policy forbids inline style too.
htmx.config.allowEval = false;
htmx.config.includeIndicatorStyles = false;

// Live character counts: a textarea with data-count="ID" writes its length into #ID.
document.addEventListener("input", (event) => {
  const id = event.target.dataset && event.target.dataset.count;
  const out = id && document.getElementById(id);
  if (out) out.textContent = event.target.value.length;
});

// A progress bar runs on by itself (CSS) from its last report: data-from (percent) and
// data-left (seconds) become the CSS variables the animation reads. Set through the CSSOM,
// which the policy allows, where a style="" attribute would be blocked.
function startBars(root) {
  for (const bar of root.querySelectorAll("[data-from]")) {
    bar.style.setProperty("--from", `${Number(bar.dataset.from) || 0}%`);
    bar.style.setProperty("--left", `${Number(bar.dataset.left) || 0}s`);
  }
}
// htmx:load fires for the page once and for every piece of content htmx swaps in.
document.addEventListener("htmx:load", (event) => startBars(event.target));

// A form with data-confirm="question" asks before it is sent (the admin's key rotation).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
