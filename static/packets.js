// Packets tab: while a packet is queued or rendering, reload to show its progress.
// (A static file, because the Content-Security-Policy forbids inline scripts.)
const refresh = document.querySelector("[data-refresh-seconds]");
if (refresh) {
  const seconds = Number(refresh.getAttribute("data-refresh-seconds")) || 5;
  window.setTimeout(() => window.location.reload(), seconds * 1000);
}
