// The NPS widget a shop's site embeds with one tag (README, "Website widget"):
//   <script src="https://<collector>/widget.js" data-order="<1C order number, when known>"
//           data-order-sig="<the shop backend's signature of it>" async></script>
// A small 0-10 prompt in a shadow root; no cookies, no third-party requests, nothing inline for the host's
// CSP (styles are set through the DOM). localStorage remembers an answer for the throttle period.
(function () {
  'use strict';
  var TEXTS = __TEXTS__, THROTTLE_DAYS = __THROTTLE_DAYS__, ENABLED = __ENABLED__, KEY = 'nps-widget-answered';
  var me = document.currentScript;
  if (!ENABLED || !me || !window.fetch) return;
  var origin = new URL(me.src, location.href).origin;
  var order = (me.getAttribute('data-order') || '').trim();
  var orderSig = (me.getAttribute('data-order-sig') || '').trim();
  var lang = [me.getAttribute('data-lang'), document.documentElement.lang, navigator.language]
    .map(function (v) { return (v || '').slice(0, 2).toLowerCase().replace('ua', 'uk'); })
    .filter(function (v) { return TEXTS[v]; })[0] || 'uk';
  var t = TEXTS[lang];
  try {
    var last = Number(localStorage.getItem(KEY) || 0);
    if (last && Date.now() - last < THROTTLE_DAYS * 864e5) return;
  } catch (e) { return; }  // no storage: we could not keep from asking again, so we do not ask

  var id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^0-9a-f]/g, '');
  function post(path, body) {
    return fetch(origin + path, {method: 'POST', mode: 'cors', credentials: 'omit', keepalive: true,
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  }
  function el(tag, css, text) {
    var e = document.createElement(tag);
    Object.keys(css || {}).forEach(function (k) { e.style[k] = css[k]; });
    if (text) e.textContent = text;
    return e;
  }

  function show() {
    var host = el('div', {position: 'fixed', right: '16px', bottom: '16px', zIndex: '2147483000'});
    host.setAttribute('data-nps-widget', '');
    var root = host.attachShadow ? host.attachShadow({mode: 'open'}) : host;
    var box = el('div', {font: '14px/1.4 system-ui,sans-serif', background: '#fff', color: '#1b1b1f',
      border: '1px solid #c4c7c5', borderRadius: '12px', boxShadow: '0 4px 16px rgba(0,0,0,.15)',
      padding: '12px 14px', maxWidth: '380px'});
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-label', t.question);
    var close = el('button', {float: 'right', border: '0', background: 'none', fontSize: '18px', cursor: 'pointer'},
      '\u00d7');
    close.setAttribute('aria-label', t.widget_close);
    close.addEventListener('click', function () { host.remove(); });
    var q = el('p', {margin: '0 0 8px', fontWeight: '600'}, t.question);
    var row = el('div', {display: 'flex', gap: '3px'});
    for (var n = 0; n <= 10; n++) {
      var b = el('button', {flex: '1', minWidth: '26px', minHeight: '32px', border: '1px solid #c4c7c5',
        borderRadius: '6px', background: '#f1f3f4', cursor: 'pointer', font: 'inherit'}, String(n));
      b.value = String(n);
      b.addEventListener('click', function (e) {
        var body = {id: id, score: Number(e.currentTarget.value), lang: lang, signal: 'pointer'};
        if (order) { body.order = order; body.order_sig = orderSig; }  // unsigned: the collector refuses it
        post('/w/answers', body).then(function (r) {
          if (r.ok) {
            try { localStorage.setItem(KEY, String(Date.now())); } catch (err) { /* private mode */ }
            box.textContent = '';
            box.appendChild(el('p', {margin: '0', fontWeight: '600'}, t.thanks_title));
            setTimeout(function () { host.remove(); }, 4000);
          }
        }, function () { /* offline: the prompt stays, the visitor may tap again */ });
      });
      row.appendChild(b);
    }
    var ends = el('div', {display: 'flex', justifyContent: 'space-between', color: '#5f6368', fontSize: '12px',
      marginTop: '4px'});
    ends.appendChild(el('span', {}, t.low));
    ends.appendChild(el('span', {}, t.high));
    box.appendChild(close); box.appendChild(q); box.appendChild(row); box.appendChild(ends);
    root.appendChild(box);
    document.body.appendChild(host);
    post('/w/shown', {id: id}).catch(function () {});
  }
  if (document.body) show(); else document.addEventListener('DOMContentLoaded', show);
})();
