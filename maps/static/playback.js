// 轨迹回放 (/maps/playback): one or several gridworkers over a time range. The slider runs over
// time, not over fixes; play at 1x-60x and follow a worker; gaps are breaks in the line, flagged
// fixes (jumps, poor accuracy) are drawn apart, stops carry their duration, and the day's patrol
// figures and the own grid stand beside the map.
(function () {
  var api = wangge.api, el = wangge.el;
  var COLOURS = ["#e8590c", "#1c7ed6", "#2b8a3e", "#ae3ec9", "#f59f00", "#0ca678"];

  var clock = wangge.clock;
  function minutes(s) { return Math.round(s / 60) + " 分钟"; }

  // where a worker was at time t: interpolated on the piece that holds t; null in a gap
  function positionAt(pieces, t) {
    for (var i = 0; i < pieces.length; i++) {
      var p = pieces[i];
      if (t < p.times[0] || t > p.times[p.times.length - 1]) continue;
      var lo = 0, hi = p.times.length - 1;
      while (hi - lo > 1) { var mid = (lo + hi) >> 1; if (p.times[mid] <= t) lo = mid; else hi = mid; }
      var span = p.times[hi] - p.times[lo], f = span > 0 ? (t - p.times[lo]) / span : 0;
      var a = p.coords[lo], b = p.coords[hi];
      return wangge.toMap(a[1] + (b[1] - a[1]) * f, a[0] + (b[0] - a[0]) * f);
    }
    return null;
  }

  wangge.playbackPage = function (map, options) {
    var layers = L.layerGroup().addTo(map), loaded = [], t0 = 0, t1 = 0, now = 0, playing = false, last = null;
    var slider = document.getElementById("wg-slider"), shown = document.getElementById("wg-clock");
    var state = wangge.playback = {loaded: loaded, at: function () { return now; }, end: function () { return t1; }};
    var list = document.getElementById("wg-workers");

    api("/api/v1/workers?limit=1000").then(function (r) {
      (r.ok ? r.body.items : []).forEach(function (w) {
        var box = el("input", {type: "checkbox", value: w.worker_id, id: "wg-w-" + w.worker_id});
        if (options.workers.indexOf(w.worker_id) >= 0) box.checked = true;
        list.appendChild(el("label", {"class": "wg-check"}, [box, " " + w.name + "（" + w.worker_id + "）"]));
      });
      if (!list.children.length) list.appendChild(el("p", {"class": "wg-muted", text: "没有可回放的网格员。"}));
      if (options.workers.length) load();
    });

    function setTime(t) {
      now = Math.max(t0, Math.min(t1, t));
      slider.value = String(now);
      shown.textContent = t1 ? clock(now) : "--:--:--";
      loaded.forEach(function (w, i) {
        var at = positionAt(w.pieces, now);
        if (at) { w.marker.setLatLng(at).setStyle({opacity: 1, fillOpacity: 1}); w.lastAt = at; }
        else if (w.lastAt) w.marker.setStyle({opacity: 0.4, fillOpacity: 0.3});  // in a gap: where last seen, faded
      });
      var follow = document.getElementById("wg-follow").checked && loaded[0] && loaded[0].lastAt;
      if (follow) map.panTo(loaded[0].lastAt, {animate: false});
      document.body.setAttribute("data-playback", now >= t1 && t1 ? "end" : "running");
    }

    function frame(ts) {
      if (!playing) return;
      if (last !== null) setTime(now + (ts - last) * Number(document.getElementById("wg-speed").value));
      last = ts;
      if (now >= t1) { playing = false; document.getElementById("wg-play").textContent = "播放"; return; }
      requestAnimationFrame(frame);
    }

    function load() {
      var ids = Array.prototype.filter.call(list.querySelectorAll("input"), function (b) { return b.checked; })
        .map(function (b) { return b.value; });
      var day = document.getElementById("wg-day").value;
      var from = wangge.chinaTime(day, document.getElementById("wg-from").value),
          to = wangge.chinaTime(day, document.getElementById("wg-to").value);
      if (to <= from) to = new Date(from.getTime() + 86400000);
      layers.clearLayers(); loaded.length = 0;
      var figures = document.getElementById("wg-figures");
      figures.textContent = "载入中…";
      var q = "?from=" + encodeURIComponent(from.toISOString()) + "&to=" + encodeURIComponent(to.toISOString()) + "&raw=true";
      Promise.all(ids.map(function (id) {
        return Promise.all([api("/api/v1/workers/" + encodeURIComponent(id) + "/track" + q),
                            api("/api/v1/workers/" + encodeURIComponent(id) + "/patrol?date=" + day)]);
      })).then(function (answers) {
        figures.textContent = "";
        var bounds = L.latLngBounds([]);
        t0 = Infinity; t1 = -Infinity;
        answers.forEach(function (r, i) {
          var id = ids[i], colour = COLOURS[i % COLOURS.length], track = r[0].ok ? r[0].body : {features: []};
          var pieces = track.features.map(function (f) {
            var times = f.properties.times.map(Date.parse);
            t0 = Math.min(t0, times[0]); t1 = Math.max(t1, times[times.length - 1]);
            var line = L.polyline(f.geometry.coordinates.map(function (c) { return wangge.toMap(c[1], c[0]); }),
                                  {color: colour, weight: 3, opacity: 0.8}).addTo(layers);
            bounds.extend(line.getBounds());
            return {times: times, coords: f.geometry.coordinates};
          });
          (track.raw || []).filter(function (f) { return f.flags && f.flags.length; }).forEach(function (f) {
            L.circleMarker(wangge.toMap(f.lat, f.lon), {radius: 4, color: "#c92a2a", weight: 2, fill: false})
              .bindTooltip("可疑定位：" + f.flags.join("、") + " " + clock(Date.parse(f.fix_time))).addTo(layers);
          });
          var marker = L.circleMarker(pieces.length ? wangge.toMap(pieces[0].coords[0][1], pieces[0].coords[0][0]) : map.getCenter(),
            {radius: 8, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1}).bindTooltip(id).addTo(layers);
          loaded.push({id: id, pieces: pieces, marker: marker});
          var block = el("div", {"class": "wg-worker-figures", "data-worker": id}, [el("h3", {text: id, style: "color:" + colour})]);
          if (r[1].ok) {
            var p = r[1].body;
            [["巡查里程", (p.distance_m / 1000).toFixed(2) + " 公里"], ["在岗·本网格内", minutes(p.duty_inside_s)],
             ["在岗·本网格外", minutes(p.duty_outside_s)], ["网格覆盖率", p.coverage === null ? "—" : Math.round(p.coverage * 100) + "%"],
             ["停留", p.stops.length + " 处"], ["出网格告警", p.outside_alerts.length + " 次"], ["定位点", String(p.points)]]
              .forEach(function (kv) { block.appendChild(el("div", {"class": "wg-row"}, [el("span", {"class": "wg-key", text: kv[0]}), el("span", {text: kv[1]})])); });
            p.stops.forEach(function (s) {
              L.marker(wangge.toMap(s.lat, s.lon), {icon: L.divIcon({className: "wg-stop", html: "停", iconSize: [18, 18]})})
                .bindTooltip("停留 " + minutes(s.seconds) + "，自 " + clock(Date.parse(s.from))).addTo(layers);
            });
            p.own_grids.forEach(function (code) {
              api("/api/v1/grids/" + code).then(function (g) {
                if (g.ok) L.geoJSON(g.body, {style: {color: colour, weight: 2, dashArray: "6 4", fill: true, fillOpacity: 0.06},
                                             coordsToLatLng: wangge.coordsToLatLng}).addTo(layers);
              });
            });
          }
          figures.appendChild(block);
        });
        if (!isFinite(t0)) { t0 = t1 = 0; figures.textContent = "所选时段没有轨迹。"; }
        slider.min = String(t0); slider.max = String(t1); slider.step = "1000";
        if (bounds.isValid()) map.fitBounds(bounds, {padding: [30, 30]});
        setTime(t0);
        document.body.setAttribute("data-loaded", String(loaded.length));
      });
    }

    slider.addEventListener("input", function () { setTime(Number(slider.value)); });
    document.getElementById("wg-load").addEventListener("click", load);
    document.getElementById("wg-play").addEventListener("click", function () {
      if (!t1) return;
      playing = !playing; last = null;
      this.textContent = playing ? "暂停" : "播放";
      if (playing) { if (now >= t1) setTime(t0); requestAnimationFrame(frame); }
    });
  };
})();
