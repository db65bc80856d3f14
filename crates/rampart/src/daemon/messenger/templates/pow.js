// Rampart messenger: local times and the self-unblock proof of work.
// Finds n such that SHA-256(challenge + ":" + n) starts with `difficulty`
// zero bits (plain JavaScript SHA-256: crypto.subtle needs HTTPS).
(function () {
  "use strict";
  var times = document.querySelectorAll("time[datetime]");
  for (var ti = 0; ti < times.length; ti++) {
    var d = new Date(times[ti].getAttribute("datetime"));
    if (!isNaN(d.getTime())) times[ti].textContent = d.toLocaleString();
  }
  var form = document.getElementById("unblock");
  if (!form) return;
  var K = [], H = [], p = 2, found = 0;
  function frac(x) { return ((x - Math.floor(x)) * 4294967296) | 0; }
  while (found < 64) {
    var prime = true;
    for (var q = 2; q * q <= p; q++) if (p % q === 0) { prime = false; break; }
    if (prime) {
      if (found < 8) H[found] = frac(Math.pow(p, 1 / 2));
      K[found] = frac(Math.pow(p, 1 / 3));
      found++;
    }
    p++;
  }
  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }
  function firstWord(s) {
    var l = s.length, words = [], nw = (((l + 8) >> 6) + 1) * 16, j;
    for (j = 0; j < nw; j++) words[j] = 0;
    for (j = 0; j < l; j++) words[j >> 2] |= s.charCodeAt(j) << (24 - (j % 4) * 8);
    words[l >> 2] |= 0x80 << (24 - (l % 4) * 8);
    words[nw - 1] = l * 8;
    var h = H.slice(), w = [];
    for (var b = 0; b < nw; b += 16) {
      for (var t = 0; t < 64; t++) {
        if (t < 16) { w[t] = words[b + t] | 0; continue; }
        var x = w[t - 15], y = w[t - 2];
        var s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
        var s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      var a = h[0], bb = h[1], c = h[2], dd = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (t = 0; t < 64; t++) {
        var t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
        hh = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = bb; bb = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + bb) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + dd) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
    }
    return h[0] >>> 0;
  }
  if (typeof module !== "undefined") { module.exports = firstWord; return; }
  var challenge = form.elements.challenge.value;
  var bits = parseInt(form.getAttribute("data-difficulty"), 10);
  var button = form.querySelector("button"), status = document.getElementById("pow-status");
  var n = 0;
  status.textContent = status.getAttribute("data-working");
  function step() {
    for (var k = 0; k < 20000; k++, n++) {
      if ((firstWord(challenge + ":" + n) >>> (32 - bits)) === 0) {
        form.elements.answer.value = String(n);
        button.disabled = false;
        status.textContent = status.getAttribute("data-ready");
        return;
      }
    }
    setTimeout(step, 0);
  }
  setTimeout(step, 0);
})();
