// The shop kiosk (nps.collector.kiosk): start screen 0-10 -> reasons and comment -> thank-you -> start again after
// the idle time. Answers and sessions wait in a localStorage queue until the collector has them (a network drop
// loses nothing); each carries an id made here, so a resend is the same answer and the collector ignores it.
// After a low score the customer may leave a phone or e-mail; it is sent only with the consent ticked.
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('nps-kiosk').textContent);
  var base = location.pathname.replace(/\/+$/, '');
  var KEY = 'nps-kiosk-queue:' + base;
  var lang = document.documentElement.lang, state = null, idleTimer = null, flushing = false;

  function $(id) { return document.getElementById(id); }
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, '');
    var a = new Uint8Array(16); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }
  function queue() { try { return JSON.parse(localStorage.getItem(KEY) || '[]'); } catch (e) { return []; } }
  function save(q) { localStorage.setItem(KEY, JSON.stringify(q)); }
  function enqueue(kind, body) { var q = queue(); q.push({kind: kind, body: body}); save(q); flush(); }

  function flush() {
    if (flushing) return;
    var q = queue();
    if (!q.length || !navigator.onLine) return;
    flushing = true;
    var item = q[0];
    fetch(base + '/' + item.kind, {method: 'POST', credentials: 'omit', cache: 'no-store',
      headers: {'Content-Type': 'application/json', 'Accept': 'application/json'}, body: JSON.stringify(item.body)})
      .then(function (r) {
        // sent (or refused for good: a bad answer or a revoked kiosk would block the queue forever)
        if (r.ok || (r.status >= 400 && r.status < 500 && r.status !== 429 && r.status !== 408)) {
          var rest = queue().filter(function (x) { return x.body.id !== item.body.id || x.kind !== item.kind; });
          save(rest);
          return true;
        }
        return false;
      }, function () { return false; })
      .then(function (more) { flushing = false; if (more) flush(); });
  }

  function text(id, key) { $(id).textContent = cfg.texts[lang][key]; }
  function render() {
    var t = cfg.texts[lang];
    document.documentElement.lang = lang;
    text('q', 'question'); text('low', 'low'); text('high', 'high'); text('rq', 'reasons'); text('cl', 'comment');
    text('send', 'submit'); text('tt', 'thanks_title'); text('tx', 'thanks'); text('again', 'kiosk_again');
    text('ctl', 'kiosk_contact'); text('consent', 'kiosk_consent'); text('cerr', 'kiosk_contact_invalid');
    Array.prototype.forEach.call($('scale').children, function (b) {
      b.setAttribute('aria-label', t.question + ' ' + b.textContent);
    });
    Array.prototype.forEach.call($('reasons').children, function (b) { b.textContent = t[b.value]; });
    Array.prototype.forEach.call($('langs').children, function (b) {
      b.textContent = cfg.texts[b.value].language_name; b.setAttribute('aria-pressed', String(b.value === lang));
    });
  }
  function show(name) {
    ['start', 'details', 'thanks'].forEach(function (s) { $(s).hidden = s !== name; });
  }
  function begin() {  // a person touched the kiosk: a session (the funnel's first step) with the answer's id
    if (!state) { state = {id: newId(), score: null}; enqueue('sessions', {id: state.id}); }
  }
  function finish() {  // the chosen score counts, sent or left: a person chose it
    if (state && state.score !== null) {
      var reasons = Array.prototype.filter.call($('reasons').children, function (b) {
        return b.getAttribute('aria-pressed') === 'true';
      }).map(function (b) { return b.value; });
      var answer = {id: state.id, score: state.score, reasons: reasons, comment: $('comment').value,
                    lang: lang, signal: 'touch'};
      if (!$('contact-block').hidden && consented() && $('contact').value.trim()) {
        answer.contact = $('contact').value.trim(); answer.consent = true;
      }
      enqueue('answers', answer);
    }
    state = null;
  }
  function reset() {
    finish();
    $('comment').value = ''; $('contact').value = ''; $('consent').setAttribute('aria-pressed', 'false');
    $('cerr').hidden = true;
    Array.prototype.forEach.call($('reasons').children, function (b) { b.setAttribute('aria-pressed', 'false'); });
    show('start');
  }
  function consented() { return $('consent').getAttribute('aria-pressed') === 'true'; }
  function contactReady() {  // empty, or a phone / e-mail with the consent ticked (the collector checks it fully)
    var value = $('contact').value.trim();
    if (!value || $('contact-block').hidden) return true;
    return consented() && (value.indexOf('@') > 0 || value.replace(/\D/g, '').length >= 9);
  }
  function touched() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(reset, cfg.idle * 1000);
  }

  for (var n = 0; n <= 10; n++) {
    var b = document.createElement('button'); b.type = 'button'; b.textContent = String(n); b.value = String(n);
    b.addEventListener('click', function (e) {
      begin(); state.score = Number(e.currentTarget.value);
      $('contact-block').hidden = state.score > cfg.contact_max_score; show('details');
    });
    $('scale').appendChild(b);
  }
  cfg.reasons.forEach(function (code) {
    var b = document.createElement('button'); b.type = 'button'; b.value = code; b.setAttribute('aria-pressed', 'false');
    b.addEventListener('click', function (e) {
      var on = e.currentTarget.getAttribute('aria-pressed') === 'true';
      e.currentTarget.setAttribute('aria-pressed', String(!on));
    });
    $('reasons').appendChild(b);
  });
  Object.keys(cfg.texts).forEach(function (code) {
    var b = document.createElement('button'); b.type = 'button'; b.value = code;
    b.addEventListener('click', function (e) { begin(); lang = e.currentTarget.value; render(); });
    $('langs').appendChild(b);
  });
  $('consent').addEventListener('click', function () {
    $('consent').setAttribute('aria-pressed', String(!consented())); $('cerr').hidden = true;
  });
  $('send').addEventListener('click', function () {
    if (!contactReady()) { $('cerr').hidden = false; return; }
    finish(); show('thanks');
  });
  $('again').addEventListener('click', reset);
  ['pointerdown', 'keydown', 'input'].forEach(function (t) { document.addEventListener(t, touched, true); });
  window.addEventListener('online', flush);
  setInterval(flush, 5000);
  render(); show('start'); flush();
})();
