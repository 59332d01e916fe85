// Live character counts: a textarea with data-count="ID" writes its length into #ID.
document.addEventListener("input", (event) => {
  const id = event.target.dataset && event.target.dataset.count;
  const out = id && document.getElementById(id);
  if (out) out.textContent = event.target.value.length;
});
