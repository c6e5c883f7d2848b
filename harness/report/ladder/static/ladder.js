(function () {
  var data = JSON.parse(document.getElementById('ladder-data').textContent);
  var panel = document.getElementById('details');
  var pinned = null;
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c];
    });
  }
  function show(i, list) {
    var m = (list || data.messages)[i];
    if (!m) { return; }
    var html = '<h2>' + esc(m.label) + '</h2>' +
      '<div class="meta">frame ' + m.frame + ' &middot; t = ' + m.time + ' s &middot; ' +
      esc(m.transport) + '<br>' + esc(m.from) + ' &rarr; ' + esc(m.to) +
      (m.call_id ? '<br>Call-ID ' + esc(m.call_id) : '') +
      (m.sdp ? '<br>' + esc(m.sdp) : '') + '</div>';
    if (m.error) { html += '<ul class="fail"><li>does not parse: ' + esc(m.error) + '</li></ul>'; }
    if (m.failures.length) {
      html += '<ul class="fail">' + m.failures.map(function (f) {
        return '<li><b>step ' + esc(f.step) + ' [' + esc(f.leg) + '] ' + esc(f.subject) +
          '</b><br>expected: ' + esc(f.expected) + '<br>actual: ' + esc(f.actual) + '</li>';
      }).join('') + '</ul>';
    }
    html += '<pre>' + esc(m.text) + '</pre>';
    html += '<p class="hint">' + (pinned === null ? 'click to keep this message; ' : '') +
      'arrow keys: previous / next message; Esc: release</p>';
    panel.innerHTML = html;
  }
  function select(i) {
    var old = document.querySelector('svg .msg.selected');
    if (old) { old.classList.remove('selected'); }
    pinned = i;
    if (i === null) { return; }
    var g = document.getElementById('msg-' + i);
    if (g) {
      g.classList.add('selected');
      g.scrollIntoView({block: 'nearest', inline: 'nearest'});
    }
    show(i);
  }
  document.querySelectorAll('svg .msg').forEach(function (g) {
    var i = Number(g.getAttribute('data-index'));
    g.addEventListener('mouseenter', function () { if (pinned === null) { show(i); } });
    g.addEventListener('click', function () { select(pinned === i ? null : i); if (pinned === null) { show(i); } });
  });
  // XMPP stanzas: details on hover and click, outside the SIP messages' keyboard order
  document.querySelectorAll('svg .stanza').forEach(function (g) {
    var i = Number(g.getAttribute('id').replace('xmpp-', ''));
    g.addEventListener('mouseenter', function () { if (pinned === null) { show(i, data.stanzas); } });
    g.addEventListener('click', function () { select(null); show(i, data.stanzas); });
  });
  document.addEventListener('keydown', function (e) {
    var n = data.messages.length;
    if (e.key === 'Escape') { select(null); }
    else if (e.key === 'ArrowDown' || e.key === 'j') { select(pinned === null ? 0 : Math.min(n - 1, pinned + 1)); e.preventDefault(); }
    else if (e.key === 'ArrowUp' || e.key === 'k') { select(pinned === null ? 0 : Math.max(0, pinned - 1)); e.preventDefault(); }
  });
  var m = /^#(msg|frame)-(\d+)$/.exec(location.hash);
  if (m) {
    var n = Number(m[2]);
    var hit = m[1] === 'msg' ? data.messages[n] :
      data.messages.filter(function (x) { return x.frame === n; })[0];
    if (hit) { select(hit.index); }
  } else if (data.first_failure !== null) {
    select(data.first_failure);
  }
})();
