// Filters of the transcript list: every control names a data-* attribute
// of the rows; a row shows when it matches them all and the search text.
(function () {
  'use strict';
  var list = document.getElementById('transcript-list');
  if (!list) { return; }
  var rows = Array.prototype.slice.call(list.querySelectorAll('details.transcript'));
  var selects = Array.prototype.slice.call(document.querySelectorAll('select[data-filter]'));
  var search = document.getElementById('filter-text');
  var shown = document.getElementById('shown-count');
  var none = document.getElementById('no-match');
  // Row text for the search, read once on first use (thousands of rows).
  var texts = null;

  function rowText(i) {
    if (texts === null) {
      texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    }
    return texts[i];
  }

  function apply() {
    var want = [];
    selects.forEach(function (s) {
      if (s.value !== '') { want.push(['data-' + s.getAttribute('data-filter'), s.value]); }
    });
    var q = search ? search.value.trim().toLowerCase() : '';
    var n = 0;
    for (var i = 0; i < rows.length; i++) {
      var ok = true;
      for (var j = 0; ok && j < want.length; j++) {
        ok = rows[i].getAttribute(want[j][0]) === want[j][1];
      }
      if (ok && q !== '') { ok = rowText(i).indexOf(q) !== -1; }
      if (rows[i].hidden === ok) { rows[i].hidden = !ok; }
      if (ok) { n++; }
    }
    shown.textContent = String(n);
    none.hidden = n !== 0;
  }

  var timer = null;
  function later() {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(function () { timer = null; apply(); }, 120);
  }

  selects.forEach(function (s) { s.addEventListener('change', apply); });
  if (search) { search.addEventListener('input', later); }
  var reset = document.getElementById('filter-reset');
  if (reset) {
    reset.addEventListener('click', function () {
      selects.forEach(function (s) { s.value = ''; });
      if (search) { search.value = ''; }
      apply();
    });
  }
  // A browser may restore form values on reload: show what they select.
  apply();
}());
