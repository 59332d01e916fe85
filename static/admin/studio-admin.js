// A form with data-confirm="question" asks before it is sent (an inline onsubmit="" would be
// blocked by the Content-Security-Policy).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
