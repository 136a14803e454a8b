// 指挥大屏 (/maps/live): gridworkers and open cases of the caller's area, brought up to date every
// few seconds from what changed since the last poll; a click on a worker draws today's track, a
// click on a case opens it with its why, its history and the actions the caller may take.
(function () {
  var api = wangge.api, el = wangge.el;
  var STATE = {received: "待立案", filed: "已立案", dispatched: "已派遣", handling: "处置中", verified: "待核查",
               returned: "已退单", closed: "已结案"};
  var ACTION = {file: "立案", dispatch: "派遣", accept: "受理处置", finish: "处置完成", rework: "返工", close: "结案",
                "return": "退单", extend: "申请延期", supervise: "督办", callback: "回访", move: "修改位置/类别"};
  var CASE_COLOUR = {received: "#f59f00", filed: "#f59f00", dispatched: "#1c7ed6", handling: "#7048e8",
                     verified: "#0ca678", returned: "#868e96"};
  var STALE_S = 600;

  function workerColour(p, age) {
    if (age > STALE_S) return "#adb5bd";            // no fix for 10 minutes
    if (!p.on_duty) return "#74c0fc";               // off duty
    return p.inside_own_grid ? "#2b8a3e" : "#e8590c"; // on duty: in the own grid, or outside it
  }

  var midnight = wangge.chinaMidnight;

  wangge.livePage = function (map, options) {
    var may = {}, workers = {}, cases = {}, track = null, since = {w: null, c: null};
    // (timings for bench/live_map.py: from an answer's arrival to the frame that shows it, ms)
    var state = wangge.live = {workers: workers, cases: cases, polls: 0, toPaint: []};
    var canvas = L.canvas({padding: 0.3});
    var cluster = L.markerClusterGroup({chunkedLoading: true, maxClusterRadius: 45, showCoverageOnHover: false});
    cluster.on("clustermouseover", function (e) {
      var names = e.layer.getAllChildMarkers().map(function (m) { return m.feature.properties.name; });
      e.layer.bindTooltip(names.slice(0, 15).join("、") + (names.length > 15 ? " 等 " + names.length + " 人" : ""),
                          {sticky: true}).openTooltip();
    });
    if (!isFinite(map.getMaxZoom())) map.setMaxZoom(20);  // no base layer to say it; clustering needs one
    map.addLayer(cluster);
    var caseLayer = L.layerGroup().addTo(map);
    var detail = document.getElementById("wg-detail");

    function counts() {
      var open = 0, overdue = 0, today = 0, now = Date.now(), start = midnight().getTime();
      Object.keys(cases).forEach(function (id) {
        var c = cases[id].row;
        open += 1;
        if (c.deadline && Date.parse(c.deadline) < now) overdue += 1;
        if (Date.parse(c.reported_at) >= start) today += 1;
      });
      var onDuty = 0, outside = 0, stale = 0;
      Object.keys(workers).forEach(function (id) {
        var w = workers[id], p = w.feature.properties, age = p.age_s + (now - w.at) / 1000;
        if (age > STALE_S) stale += 1; else if (p.on_duty) { onDuty += 1; if (!p.inside_own_grid) outside += 1; }
        w.setStyle({fillColor: workerColour(p, age)});
      });
      [["wg-open", open], ["wg-overdue", overdue], ["wg-today", today], ["wg-duty", onDuty], ["wg-outside", outside],
       ["wg-stale", stale]].forEach(function (p) { document.getElementById(p[0]).textContent = p[1]; });
      var latest = Object.keys(cases).map(function (id) { return cases[id].row; })
        .sort(function (a, b) { return b.reported_at < a.reported_at ? -1 : 1; }).slice(0, 8);
      var ticker = document.getElementById("wg-ticker");
      ticker.textContent = "";
      latest.forEach(function (c) {
        var item = el("li", {"data-case": c.id}, [el("span", {"class": "wg-muted", text: wangge.clock(Date.parse(c.reported_at)).slice(0, 5) + " "}),
          "#" + c.id + " " + (STATE[c.state] || c.state) + (c.overdue ? " · 超期" : "")]);
        item.addEventListener("click", function () { openCase(c.id); });
        ticker.appendChild(item);
      });
    }

    function pollWorkers() {
      if (!may["tracks:read"]) return Promise.resolve();
      return api("/api/v1/workers/positions" + (since.w ? "?since=" + encodeURIComponent(since.w) : "")).then(function (r) {
        if (state.arrived === null) state.arrived = performance.now();
        if (!r.ok) return;
        since.w = r.body.next_since;
        var at = Date.now(), fresh = [];
        r.body.features.forEach(function (f) {
          var c = f.geometry.coordinates, w = workers[f.id], here = wangge.toMap(c[1], c[0]);
          if (w) { w.setLatLng(here); w.feature = f; w.at = at; return; }
          w = L.circleMarker(here, {renderer: canvas, radius: 6, weight: 1, color: "#fff", fillOpacity: 0.95});
          w.feature = f; w.at = at;
          w.bindTooltip(function () { return w.feature.properties.name; });
          w.on("click", function () { openWorker(w.feature.properties.worker_id); });
          workers[f.id] = w; fresh.push(w);
        });
        if (fresh.length) cluster.addLayers(fresh);
        cluster.refreshClusters();
      });
    }

    function pollCases() {
      return api("/api/v1/cases-live" + (since.c ? "?since=" + encodeURIComponent(since.c) : "")).then(function (r) {
        if (state.arrived === null) state.arrived = performance.now();
        if (!r.ok) return;
        since.c = r.body.next_since;
        if (r.body.complete) document.getElementById("wg-truncated").hidden = !r.body.truncated;
        r.body.cases.forEach(function (c) {
          var m = cases[c.id];
          if (c.state === "closed") { if (m) { caseLayer.removeLayer(m); delete cases[c.id]; } return; }
          var style = {fillColor: c.overdue ? "#e03131" : (CASE_COLOUR[c.state] || "#495057")};
          if (m) { m.setLatLng(wangge.toMap(c.lat, c.lon)).setStyle(style); m.row = c; return; }
          m = L.circleMarker(wangge.toMap(c.lat, c.lon), Object.assign({renderer: canvas, radius: 5, weight: 1, color: "#fff",
                                                              fillOpacity: 0.9}, style));
          m.row = c;
          m.on("click", function () { openCase(c.id); });
          cases[c.id] = m; caseLayer.addLayer(m);
        });
      });
    }

    function poll() {
      state.arrived = null;
      return Promise.all([pollWorkers(), pollCases()]).then(function () {
        counts(); state.polls += 1; document.body.setAttribute("data-polls", state.polls);
        var arrived = state.arrived;
        if (arrived !== null) requestAnimationFrame(function () { state.toPaint.push(performance.now() - arrived); });
      });
    }

    function openWorker(id) {
      var from = midnight().toISOString(), to = new Date().toISOString();
      api("/api/v1/workers/" + encodeURIComponent(id) + "/track?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to))
        .then(function (r) {
          if (track) track.remove();
          var p = workers[id] && workers[id].feature.properties;
          detail.textContent = "";
          detail.appendChild(el("h3", {text: "网格员 " + (p ? p.name : id)}));
          if (p) {
            detail.appendChild(el("p", {text: (p.on_duty ? "在岗" : "不在岗") + " · " + (p.inside_own_grid ? "在本网格内" : "不在本网格") +
              " · 最后定位 " + wangge.clock(Date.parse(p.fix_time))}));
            detail.appendChild(el("p", {"class": "wg-muted", text: "负责网格：" + (p.own_grids.join("、") || "—")}));
          }
          if (r.ok && r.body.features.length) {
            track = L.geoJSON(r.body, {style: {color: "#e8590c", weight: 3}, coordsToLatLng: wangge.coordsToLatLng}).addTo(map);
            detail.appendChild(el("p", {id: "wg-track", text: "今日轨迹 " + r.body.features.length + " 段"}));
          } else {
            detail.appendChild(el("p", {"class": "wg-muted", text: "今日无轨迹。"}));
          }
        });
    }

    function openCase(id) {
      Promise.all([api("/api/v1/cases/" + id), api("/api/v1/cases/" + id + "/history")]).then(function (r) {
        detail.textContent = "";
        if (!r[0].ok) { detail.textContent = "无法打开工单 #" + id; return; }
        var c = r[0].body;
        detail.appendChild(el("h3", {id: "wg-case", text: "工单 #" + c.id + " · " + (STATE[c.state] || c.state)}));
        detail.appendChild(el("p", {text: c.class_code + " · " + (c.description || "") }));
        detail.appendChild(el("p", {"class": "wg-muted", text: "网格 " + (c.chain.unit_grid || "—") + " · 责任单位 " +
          (c.resp_unit || "未派遣") + (c.deadline ? " · 时限 " + wangge.chinaDay(Date.parse(c.deadline)) + " " +
        wangge.clock(Date.parse(c.deadline)).slice(0, 5) : "")}));
        if (c.contact) detail.appendChild(el("p", {text: "来电人 " + (c.contact.name || "—") + " " + (c.contact.phone || "")}));
        detail.appendChild(el("p", {"class": "wg-why", text: "派遣依据：" + wangge.whyText(c.why)}));
        var hist = el("ol", {"class": "wg-history"});
        (r[1].ok ? r[1].body : []).forEach(function (e) {
          hist.appendChild(el("li", {text: wangge.clock(Date.parse(e.at)).slice(0, 5) + " " + (ACTION[e.action] || e.action) + " · " + e.actor +
            (e.note ? " · " + e.note : "")}));
        });
        detail.appendChild(hist);
        var allowed = Object.keys(options.actions).filter(function (a) {
          var needs = options.handling.indexOf(a) >= 0 ? "cases:handle" : "cases:act";
          return may[needs] && options.actions[a].indexOf(c.state) >= 0 && ["move", "callback"].indexOf(a) < 0;
        });
        if (!allowed.length) return;
        var select = el("select", {id: "wg-action"}, allowed.map(function (a) { return el("option", {value: a, text: ACTION[a] || a}); }));
        var note = el("input", {id: "wg-note", placeholder: "说明（退单原因等）"});
        var hours = el("input", {id: "wg-hours", type: "number", min: "1", placeholder: "延期小时"});
        var button = el("button", {type: "submit", text: "执行"});
        var form = el("form", {"class": "wg-form wg-act", id: "wg-act"}, [select, note, hours, button]);
        var result = el("p", {id: "wg-act-result", "class": "wg-muted"});
        form.addEventListener("submit", function (e) {
          e.preventDefault();
          var body = {action: select.value, note: note.value};
          if (select.value === "extend") body.hours = Number(hours.value);
          api("/api/v1/cases/" + id + "/actions", {method: "POST", body: body}).then(function (a) {
            result.textContent = a.ok ? "已" + (ACTION[select.value] || select.value) : ((a.body && a.body.message) || "失败");
            if (a.ok) poll().then(function () { openCase(id); });
          });
        });
        detail.appendChild(el("h3", {text: "办理"}));
        detail.appendChild(form);
        detail.appendChild(result);
      });
    }

    document.getElementById("wg-full").addEventListener("click", function () {
      if (document.fullscreenElement) document.exitFullscreen(); else document.documentElement.requestFullscreen();
    });
    api("/api/v1/auth/me").then(function (r) {
      (r.ok ? r.body.permissions : []).forEach(function (p) { may[p] = true; });
      return poll();
    }).then(function () { setInterval(poll, options.interval_ms); });
  };
})();
