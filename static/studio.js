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

// A waveform (data-player="ID") seeks the <audio id=ID> to where it is clicked, and shows how
// much has played. A list row's player loads nothing until asked (preload="none"), so there the
// seek waits for the length.
document.addEventListener("click", (event) => {
  const wave = event.target.closest && event.target.closest("svg[data-player]");
  const audio = wave && document.getElementById(wave.dataset.player);
  if (!audio) return;
  const box = wave.getBoundingClientRect();
  const fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  const seek = () => { audio.currentTime = fraction * audio.duration; };
  if (Number.isFinite(audio.duration)) {
    seek();
  } else {
    audio.addEventListener("loadedmetadata", seek, { once: true });
    audio.preload = "metadata";
    audio.load();
  }
});
// Media events do not bubble: listen in the capture phase.
document.addEventListener("timeupdate", (event) => {
  const audio = event.target;
  if (!audio.id || !Number.isFinite(audio.duration)) return;
  for (const wave of document.querySelectorAll(`svg[data-player="${audio.id}"]`)) {
    wave.style.setProperty("--played", audio.currentTime / audio.duration);
  }
}, true);

// Quick insert (Generate's prompt, `/` and a word): the results are plain links, so Tab and Enter
// work by themselves; the arrow keys also move from the prompt into them and between them, and
// Escape goes back to the prompt.
document.addEventListener("keydown", (event) => {
  const box = document.getElementById("quick-insert");
  const prompt = document.getElementById("id_prompt");
  const links = box ? [...box.querySelectorAll("a.quick-item")] : [];
  if (!links.length || !prompt) return;
  const at = links.indexOf(document.activeElement);
  let next = null;
  if (event.target === prompt && event.key === "ArrowDown"
      && prompt.value.startsWith("/") && !prompt.value.includes("\n")) {
    next = links[0];
  } else if (at >= 0 && event.key === "ArrowDown") {
    next = links[Math.min(at + 1, links.length - 1)];
  } else if (at >= 0 && event.key === "ArrowUp") {
    next = at === 0 ? prompt : links[at - 1];
  } else if (at >= 0 && event.key === "Escape") {
    next = prompt;
  }
  if (next) {
    event.preventDefault();
    next.focus();
  }
});
