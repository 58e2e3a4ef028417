// Moor map view. Inlined into the map page by moor-dashboard (html.rs); no build step, no
// libraries. It draws the server's aggregated answer (MapData, see aggregate.rs) as SVG over
// the world outline, in the same plane as the server: equirectangular, 3600 x 1800 units,
// x = (lon + 180) * 10, y = (90 - lat) * 10. Zoom and pan only change the SVG viewBox, then
// re-fetch the view. Every text from data goes in with textContent, never as HTML.
(function () {
  'use strict';

  var body = document.body;
  var API = body.dataset.api;
  var EVENTS = body.dataset.events;
  var WORLD = body.dataset.world;
  var SITES = body.dataset.sites;
  var CHANGED = body.dataset.changed;

  var SVG_NS = 'http://www.w3.org/2000/svg';
  var MAX_ZOOM = 8;
  var LIST_MAX = 300; // entries in the list beside the map
  var MIN_LIVE_GAP = 1000; // ms between re-fetches caused by events

  var svg = document.getElementById('map');
  var land = document.getElementById('land');
  var marks = document.getElementById('marks');
  var form = document.getElementById('filters');
  var list = document.getElementById('list');
  var summary = document.getElementById('summary');
  var live = document.getElementById('live');
  var notice = document.getElementById('notice');

  // Colours and labels come from the server-rendered legend: one source of truth (status.rs).
  var colour = {};
  var label = {};
  var legendCount = {};
  Array.prototype.forEach.call(document.querySelectorAll('#legend [data-status]'), function (li) {
    colour[li.dataset.status] = li.dataset.colour;
    label[li.dataset.status] = li.dataset.label;
    legendCount[li.dataset.status] = li.querySelector('.count');
  });
  var ORDER = Object.keys(colour); // worst first, as the legend

  var view = { zoom: 0, lat: 0, lon: 0 };
  var data = null;

  // ---- geometry (mirrors project.rs) ----

  function span(zoom) {
    var s = Math.pow(2, zoom);
    return [360 / s, 180 / s];
  }

  function clampView() {
    view.zoom = Math.max(0, Math.min(MAX_ZOOM, Math.round(view.zoom) || 0));
    var sp = span(view.zoom);
    var c = function (v, half, halfView) {
      v = isFinite(v) ? v : 0;
      return Math.max(-half + halfView, Math.min(half - halfView, v));
    };
    view.lat = c(view.lat, 90, sp[1] / 2);
    view.lon = c(view.lon, 180, sp[0] / 2);
  }

  function px(lon) { return (lon + 180) * 10; }
  function py(lat) { return (90 - lat) * 10; }

  function setViewBox() {
    var sp = span(view.zoom);
    var w = sp[0] * 10;
    var h = sp[1] * 10;
    svg.setAttribute('viewBox', [px(view.lon) - w / 2, py(view.lat) - h / 2, w, h].join(' '));
  }

  // SVG units per screen pixel at the current zoom, so marks keep their size on screen.
  function unitsPerPixel() {
    var r = svg.getBoundingClientRect();
    var sp = span(view.zoom);
    return Math.max((sp[0] * 10) / (r.width || 1), (sp[1] * 10) / (r.height || 1));
  }

  // [lat, lon] under a mouse event.
  function eventLatLon(e) {
    var ctm = svg.getScreenCTM();
    if (!ctm) return null;
    var pt = svg.createSVGPoint();
    pt.x = e.clientX;
    pt.y = e.clientY;
    var p = pt.matrixTransform(ctm.inverse());
    return [90 - p.y / 10, p.x / 10 - 180];
  }

  // ---- state in the URL: the fragment uses the API's own query format ----

  function filterParams() {
    var p = [];
    ['region', 'label', 'status', 'text'].forEach(function (name) {
      var v = form.elements[name].value.trim();
      if (v) p.push(name + '=' + encodeURIComponent(v));
    });
    return p;
  }

  function queryString() {
    return ['zoom=' + view.zoom, 'lat=' + view.lat.toFixed(4), 'lon=' + view.lon.toFixed(4)]
      .concat(filterParams())
      .join('&');
  }

  function readHash() {
    var h = location.hash.replace(/^#/, '');
    view = { zoom: 0, lat: 0, lon: 0 };
    ['region', 'label', 'status', 'text'].forEach(function (name) { form.elements[name].value = ''; });
    h.split('&').forEach(function (pair) {
      if (!pair) return;
      var i = pair.indexOf('=');
      var k = i < 0 ? pair : pair.slice(0, i);
      var v = '';
      try { v = decodeURIComponent((i < 0 ? '' : pair.slice(i + 1)).replace(/\+/g, ' ')); } catch (err) { return; }
      if (k === 'zoom') view.zoom = parseInt(v, 10);
      else if (k === 'lat') view.lat = parseFloat(v);
      else if (k === 'lon') view.lon = parseFloat(v);
      else if (form.elements[k]) {
        var el = form.elements[k];
        if (el.tagName === 'SELECT' && v && !el.querySelector('option[value="' + CSS.escape(v) + '"]')) {
          var o = document.createElement('option');
          o.value = v;
          o.textContent = v;
          el.appendChild(o);
        }
        el.value = v;
      }
    });
    clampView();
  }

  function writeHash() {
    history.replaceState(null, '', '#' + queryString());
  }

  // ---- fetching ----

  var seq = 0;
  var inFlight = null;
  var fetchTimer = null;
  var lastLoad = 0;
  var stale = false; // a change event came while the tab was hidden

  function scheduleLoad(delay) {
    clearTimeout(fetchTimer);
    fetchTimer = setTimeout(load, delay);
  }

  function load() {
    clearTimeout(fetchTimer);
    fetchTimer = null;
    lastLoad = Date.now();
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    var mine = ++seq;
    fetch(API + '?' + queryString(), {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
      signal: inFlight.signal
    })
      .then(function (r) {
        if (!r.ok) {
          return r.text().then(function (t) { throw new Error('HTTP ' + r.status + ': ' + t.slice(0, 200)); });
        }
        return r.json();
      })
      .then(function (d) {
        if (mine !== seq) return; // an older answer arriving late
        inFlight = null;
        data = d;
        showNotice(null);
        render();
      })
      .catch(function (err) {
        if (err.name === 'AbortError') return;
        if (mine === seq) inFlight = null;
        showNotice('Could not load the map: ' + err.message + ' (retrying on the next change)');
      });
  }

  // Re-fetch after a change event: at most once per MIN_LIVE_GAP.
  var liveTimer = null;
  function changed() {
    if (document.hidden) { stale = true; return; } // catch up when the tab is shown again
    if (liveTimer) return;
    var wait = Math.max(0, MIN_LIVE_GAP - (Date.now() - lastLoad));
    liveTimer = setTimeout(function () { liveTimer = null; load(); }, wait);
  }
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && stale) { stale = false; load(); }
  });

  // ---- live updates: server-sent events, reconnecting with backoff ----

  var source = null;
  var backoff = 1000;
  var wasDown = false;

  function setLive(text, up) {
    live.textContent = text;
    live.className = 'live ' + (up ? 'up' : 'down');
  }

  function connect() {
    if (!window.EventSource) { setLive('no live updates in this browser', false); return; }
    source = new EventSource(EVENTS);
    source.addEventListener('open', function () {
      backoff = 1000;
      setLive('live', true);
      if (wasDown) { wasDown = false; changed(); } // we may have missed changes
    });
    source.addEventListener(CHANGED, changed);
    source.addEventListener('error', function () {
      // The browser's own retry gives up on some errors and never backs off: do it here.
      source.close();
      source = null;
      wasDown = true;
      var wait = backoff * (1 + Math.random() / 2);
      backoff = Math.min(backoff * 2, 30000);
      setLive('reconnecting in ' + Math.round(wait / 1000) + ' s', false);
      setTimeout(connect, wait);
    });
  }

  // ---- drawing ----

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG_NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  // "1 site", "2 sites": the count as the reader's locale writes it, and the noun agreeing.
  function sitesText(n) {
    return n.toLocaleString() + (n === 1 ? ' site' : ' sites');
  }

  function short(n) {
    if (n >= 1e6) return (n / 1e6).toFixed(n < 1e7 ? 1 : 0) + 'M';
    if (n >= 1e3) return (n / 1e3).toFixed(n < 1e4 ? 1 : 0) + 'k';
    return String(n);
  }

  function countsText(counts) {
    return ORDER.filter(function (s) { return counts[s]; })
      .map(function (s) { return counts[s].toLocaleString() + ' ' + label[s].toLowerCase(); })
      .join(', ');
  }

  function render() {
    setViewBox();
    drawMarks();
    drawList();
    drawSummary();
    fillRegions();
  }

  function drawMarks() {
    while (marks.firstChild) marks.removeChild(marks.firstChild);
    if (!data) return;
    var u = unitsPerPixel();
    var i;
    // The server sends worst first; draw worst last so it is on top.
    for (i = data.cells.length - 1; i >= 0; i--) drawCell(data.cells[i], u);
    for (i = data.sites.length - 1; i >= 0; i--) drawDot(data.sites[i], u);
  }

  function drawCell(c, u) {
    var g = el('g', { 'class': 'cell' }, marks);
    // Grows with the log of the count, but stays within about its own grid square.
    var cellPx = (data.cell_deg * 10) / u;
    var r = Math.max(6, Math.min(5 + 2 * Math.log2(c.count), 20, 0.48 * cellPx)) * u;
    el('circle', { cx: px(c.lon), cy: py(c.lat), r: r, fill: colour[c.worst] }, g);
    var t = el('text', { x: px(c.lon), y: py(c.lat), 'font-size': Math.min(10 * u, r * 0.75) }, g);
    t.textContent = short(c.count);
    el('title', {}, g).textContent =
      sitesText(c.count) + ': ' + countsText(c.counts) + ' (click to zoom in)';
    g.addEventListener('click', function () { zoomTo(c.lat, c.lon, view.zoom + 2); });
  }

  function drawDot(s, u) {
    var a = el('a', { href: SITES + encodeURIComponent(s.name) }, marks);
    el('circle', { cx: px(s.lon), cy: py(s.lat), r: 5 * u, fill: colour[s.status] }, a);
    el('title', {}, a).textContent = s.name + ' (' + s.region + '): ' + label[s.status];
  }

  // Sites and cells in one list, worst status first (both arrive sorted that way).
  function drawList() {
    while (list.firstChild) list.removeChild(list.firstChild);
    var rank = function (status) { return ORDER.indexOf(status); };
    var si = 0;
    var ci = 0;
    var total = data.sites.length + data.cells.length;
    for (var shown = 0; shown < Math.min(total, LIST_MAX); shown++) {
      var s = data.sites[si];
      var c = data.cells[ci];
      if (s && (!c || rank(s.status) <= rank(c.worst))) {
        list.appendChild(siteItem(s));
        si++;
      } else {
        list.appendChild(cellItem(c));
        ci++;
      }
    }
    if (total > LIST_MAX) {
      var more = document.createElement('li');
      more.className = 'more';
      more.textContent = (total - LIST_MAX).toLocaleString() + ' more: zoom in or filter';
      list.appendChild(more);
    }
  }

  function siteItem(s) {
    var li = document.createElement('li');
    var a = document.createElement('a');
    a.href = SITES + encodeURIComponent(s.name);
    a.appendChild(swatch(s.status));
    a.appendChild(document.createTextNode(s.name));
    a.appendChild(sub(s.region + ' · ' + label[s.status]));
    li.appendChild(a);
    return li;
  }

  function cellItem(c) {
    var li = document.createElement('li');
    var b = document.createElement('button');
    b.type = 'button';
    b.appendChild(swatch(c.worst));
    b.appendChild(document.createTextNode(sitesText(c.count) + ' near ' +
      c.lat.toFixed(1) + ', ' + c.lon.toFixed(1)));
    b.appendChild(sub(countsText(c.counts)));
    b.addEventListener('click', function () { zoomTo(c.lat, c.lon, view.zoom + 2); });
    li.appendChild(b);
    return li;
  }

  function swatch(status) {
    var s = document.createElement('span');
    s.className = 'swatch';
    s.style.background = colour[status];
    return s;
  }

  function sub(text) {
    var s = document.createElement('span');
    s.className = 'sub';
    s.textContent = text;
    return s;
  }

  function drawSummary() {
    var matches = data.matched === 1 ? ' matches' : ' match';
    var text = sitesText(data.matched) + (filterParams().length ? matches : '') + ', ' +
      data.in_view.toLocaleString() + ' in view';
    if (data.unplaced) text += ', ' + data.unplaced.toLocaleString() + ' without valid coordinates';
    summary.textContent = text;
    ORDER.forEach(function (s) {
      var n = data.totals[s] || 0;
      legendCount[s].textContent = n ? n.toLocaleString() : '';
    });
    if (data.truncated) {
      showNotice('Showing the worst part of this view only: ' + sitesText(data.omitted) +
        ' left out. Zoom in or filter.');
    }
  }

  function fillRegions() {
    var select = form.elements.region;
    var current = select.value;
    var have = Array.prototype.map.call(select.options, function (o) { return o.value; });
    var want = [''].concat(data.regions);
    if (current && want.indexOf(current) < 0) want.push(current);
    if (have.join('\n') === want.join('\n')) return;
    while (select.options.length > 1) select.remove(1);
    want.slice(1).forEach(function (r) {
      var o = document.createElement('option');
      o.value = r;
      o.textContent = r;
      select.appendChild(o);
    });
    select.value = current;
  }

  function showNotice(text) {
    notice.hidden = !text;
    notice.textContent = text || '';
  }

  function loadWorld() {
    fetch(WORLD, { credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'image/svg+xml');
        var paths = doc.querySelectorAll('path');
        for (var i = 0; i < paths.length; i++) land.appendChild(document.importNode(paths[i], true));
      })
      .catch(function (err) { showNotice('Could not load the world outline: ' + err.message); });
  }

  // ---- zoom and pan ----

  function viewChanged(delay) {
    clampView();
    setViewBox();
    drawMarks(); // old data, resized for the new zoom, until the new answer arrives
    writeHash();
    scheduleLoad(delay === undefined ? 150 : delay);
  }

  // Zoom to `zoom`, keeping the point `anchor` ([lat, lon]) where it is on screen.
  function zoomAround(zoom, anchor) {
    zoom = Math.max(0, Math.min(MAX_ZOOM, zoom));
    if (zoom === view.zoom) return;
    if (anchor) {
      var f = Math.pow(2, view.zoom - zoom);
      view.lat = anchor[0] + (view.lat - anchor[0]) * f;
      view.lon = anchor[1] + (view.lon - anchor[1]) * f;
    }
    view.zoom = zoom;
    viewChanged();
  }

  function zoomTo(lat, lon, zoom) {
    view.lat = lat;
    view.lon = lon;
    view.zoom = Math.min(MAX_ZOOM, zoom);
    viewChanged(0);
  }

  document.getElementById('zoom-in').addEventListener('click', function () { zoomAround(view.zoom + 1, null); });
  document.getElementById('zoom-out').addEventListener('click', function () { zoomAround(view.zoom - 1, null); });
  document.getElementById('zoom-world').addEventListener('click', function () { zoomTo(0, 0, 0); });

  var lastWheel = 0;
  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    var now = Date.now();
    if (now - lastWheel < 200 || e.deltaY === 0) return; // one level per flick, trackpads too
    lastWheel = now;
    zoomAround(view.zoom + (e.deltaY < 0 ? 1 : -1), eventLatLon(e));
  }, { passive: false });

  var drag = null;
  var swallowClick = false;
  svg.addEventListener('pointerdown', function (e) {
    if (e.button !== 0) return;
    swallowClick = false;
    drag = { x: e.clientX, y: e.clientY, lat: view.lat, lon: view.lon, u: unitsPerPixel(), moved: false };
  });
  window.addEventListener('pointermove', function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x;
    var dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return; // a click, not a drag
    drag.moved = true;
    svg.classList.add('dragging');
    view.lon = drag.lon - (dx * drag.u) / 10;
    view.lat = drag.lat + (dy * drag.u) / 10;
    clampView();
    setViewBox();
  });
  window.addEventListener('pointerup', function () {
    if (!drag) return;
    if (drag.moved) {
      swallowClick = true; // the click that ends a drag must not open a site or zoom
      viewChanged();
    }
    drag = null;
    svg.classList.remove('dragging');
  });
  svg.addEventListener('click', function (e) {
    if (swallowClick) {
      swallowClick = false;
      e.preventDefault();
      e.stopPropagation();
    }
  }, true);
  svg.addEventListener('dragstart', function (e) { e.preventDefault(); });

  svg.addEventListener('keydown', function (e) {
    var sp = span(view.zoom);
    var step = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [1, 0], ArrowDown: [-1, 0] }[e.key];
    if (step) {
      view.lat += (step[0] * sp[1]) / 4;
      view.lon += (step[1] * sp[0]) / 4;
      viewChanged();
    } else if (e.key === '+' || e.key === '=') {
      zoomAround(view.zoom + 1, null);
    } else if (e.key === '-') {
      zoomAround(view.zoom - 1, null);
    } else {
      return;
    }
    e.preventDefault();
  });

  // ---- filters ----

  var textTimer = null;
  form.addEventListener('change', function () { writeHash(); scheduleLoad(0); });
  form.addEventListener('input', function (e) {
    if (e.target.tagName !== 'INPUT') return;
    clearTimeout(textTimer);
    textTimer = setTimeout(function () { writeHash(); scheduleLoad(0); }, 300);
  });
  form.addEventListener('submit', function (e) { e.preventDefault(); writeHash(); scheduleLoad(0); });
  form.addEventListener('reset', function () {
    setTimeout(function () { writeHash(); scheduleLoad(0); }, 0); // after the fields clear
  });

  window.addEventListener('hashchange', function () { readHash(); viewChanged(0); });
  window.addEventListener('resize', function () { drawMarks(); });

  // ---- start ----

  readHash();
  setViewBox();
  loadWorld();
  load();
  connect();
})();
