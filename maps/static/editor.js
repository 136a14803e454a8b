// 网格编辑 (/maps/editor): a grid administrator selects a grid of their area (a click on the map
// picks the unit grid there, or type its code), moves its vertices with snapping to the
// neighbours (leaflet-geoman's free edition), checks the change with a dry run of the versioned
// redraw (what the validation finds is drawn on the map, with what the change moves), and saves
// it as a new version. When a moved vertex was shared with a neighbour (leaflet-geoman's free
// edition moves one layer only), the page offers to move the neighbour's matching vertex too and
// saves both together. Splitting by a line, merging a neighbour in and drawing a new grid are done
// on the server, with codes by the standard numbering. The grid's versions, and its boundary on any
// past day, are browsable.
(function () {
  var api = wangge.api, el = wangge.el;
  var EPS = 1e-9;  // degrees: shared vertices are equal bit for bit; this only absorbs float noise

  function same(a, b) { return Math.abs(a[0] - b[0]) < EPS && Math.abs(a[1] - b[1]) < EPS; }

  function onSegment(p, a, b) {  // p on the segment a-b (geoman's midpoints are Mercator ones)
    var dx = b[0] - a[0], dy = b[1] - a[1], len2 = dx * dx + dy * dy;
    if (!len2) return false;
    var t = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2;
    if (t <= 0 || t >= 1) return false;
    var ex = a[0] + t * dx - p[0], ey = a[1] + t * dy - p[1];
    return ex * ex + ey * ey < 1e-14;  // within about a centimetre
  }

  // a polygon's rings (of a Polygon or MultiPolygon), to change in place
  function rings(geometry) {
    return geometry.type === "Polygon" ? geometry.coordinates : [].concat.apply([], geometry.coordinates);
  }

  // apply the moves (from -> to, [lng, lat] in map coordinates) to a neighbour's geometry: a
  // vertex it shares moves with it; a new vertex dragged out of a shared edge is added to it
  function follow(geometry, moves) {
    var changed = false;
    rings(geometry).forEach(function (ring) {
      moves.forEach(function (m) {
        var hit = false;
        for (var i = 0; i < ring.length; i++) if (same(ring[i], m.from)) { ring[i] = m.to.slice(); hit = changed = true; }
        if (hit) return;
        for (var k = 0; k + 1 < ring.length; k++) {
          if (onSegment(m.from, ring[k], ring[k + 1])) { ring.splice(k + 1, 0, m.to.slice()); changed = true; return; }
        }
      });
    });
    return changed;
  }

  wangge.editorPage = function (map, options) {
    var editing = null, code = null, moves = [], pending = null;
    var neighbours = L.layerGroup().addTo(map), found = L.layerGroup().addTo(map), past = L.layerGroup().addTo(map);
    var preview = L.layerGroup().addTo(map);
    var near = [];  // the neighbours: {code, name, layer}
    var report = document.getElementById("wg-report");
    var state = wangge.editor = {
      layer: function () { return editing; }, code: function () { return code; },
      moves: function () { return moves; }, neighbours: function () { return near; }
    };
    if (!isFinite(map.getMaxZoom())) map.setMaxZoom(22);
    map.pm.setGlobalOptions({snappable: true, snapDistance: 15, allowSelfIntersection: false});

    function feature() {
      var f = editing.toGeoJSON(false);  // every digit: a vertex shared with a neighbour stays equal to it
      f = f.type === "FeatureCollection" ? f.features[0] : f;
      f.properties = {code: code};
      return f;
    }

    function crsQuery() { return wangge.mapCrs === "gcj02" ? "&crs=gcj02" : ""; }

    function drawFindings(list) {
      found.clearLayers();
      (list || []).forEach(function (f) {
        if (!f.geometry) return;
        L.geoJSON(f.geometry, {coordsToLatLng: wangge.coordsToLatLng, interactive: true,
          style: {color: "#c92a2a", weight: 2, fillColor: "#fa5252", fillOpacity: 0.55}})
          .bindTooltip({overlap: "重叠", gap: "缝隙", outside: "超出上级"}[f.kind] + "：" + f.message).addTo(found);
      });
      document.body.setAttribute("data-findings", String((list || []).length));
    }

    function showReport(r, saved, what) {
      report.textContent = "";
      if (!r.ok && r.status !== 422) {
        report.appendChild(el("p", {id: "wg-verdict", "class": "wg-warn", text: (r.body && r.body.message) || "失败"}));
        document.body.setAttribute("data-report", "failed");
        return;
      }
      var body = r.status === 422 ? (r.body.details || r.body) : r.body;
      var rejected = body.rejected || [];
      report.appendChild(el("p", {id: "wg-verdict", "class": rejected.length ? "wg-warn" : "wg-ok",
        text: rejected.length ? "不能保存：" + rejected.length + " 处问题"
          : (saved ? (what || "已保存为新版本") : (pending ? "检查通过，可以确认" + pending.label : "检查通过，可以保存"))}));
      rejected.forEach(function (x) { report.appendChild(el("p", {"class": "wg-muted", text: (x.code || "") + " " + (x.reason || x.message || JSON.stringify(x))})); });
      (body.warnings || []).forEach(function (w) { report.appendChild(el("p", {"class": "wg-muted", text: "提示：" + w})); });
      if ((body.findings || []).length) report.appendChild(el("p", {"class": "wg-warn", text: "地图上红色区域为校验发现的问题（重叠、缝隙或超出上级）。"}));
      if ((body.codes || []).length) report.appendChild(el("p", {"class": "wg-muted", text: "涉及网格：" + body.codes.join("、")}));
      if (body.valid_from) {
        var ms = Date.parse(body.valid_from);
        report.appendChild(el("p", {"class": "wg-muted", text: "生效时间 " + wangge.chinaDay(ms) + " " + wangge.clock(ms)}));
      }
      drawFindings(body.findings);
      document.body.setAttribute("data-report", saved ? "saved" : "checked");
    }

    function history() {
      api("/api/v1/grids/" + code + "/versions").then(function (r) {
        var box = document.getElementById("wg-history");
        box.textContent = "";
        (r.ok ? r.body.features : []).forEach(function (f) {
          var p = f.properties;
          var when = function (t) { var ms = Date.parse(t); return wangge.chinaDay(ms) + " " + wangge.clock(ms); };
          var item = el("li", {text: when(p.valid_from) + " 起" + (p.valid_to ? "，至 " + when(p.valid_to) : "（现行）") +
            (p.source ? " · " + p.source : "")});
          item.addEventListener("click", function () { showPast(f); });
          box.appendChild(item);
        });
        document.body.setAttribute("data-versions", String(r.ok ? r.body.features.length : 0));
      });
    }

    function showPast(f) {  // a version's boundary, drawn dashed under the current one
      past.clearLayers();
      L.geoJSON(f, {coordsToLatLng: wangge.coordsToLatLng, interactive: false,
        style: {color: "#1864ab", weight: 2, dashArray: "6 4", fillOpacity: 0.05}}).addTo(past);
    }

    function asOf() {  // the boundary on a chosen day (China time)
      var day = document.getElementById("wg-asof").value;
      if (!code || !day) return;
      api("/api/v1/grids/" + code + "?at=" + encodeURIComponent(wangge.chinaTime(day, "12:00").toISOString())).then(function (r) {
        past.clearLayers();
        var box = document.getElementById("wg-asof-note");
        if (!r.ok) { box.textContent = day + " 时该网格不存在。"; document.body.setAttribute("data-asof", "none"); return; }
        showPast(r.body);
        box.textContent = day + " 的边界（蓝色虚线）";
        document.body.setAttribute("data-asof", day);
      });
    }

    function loadNeighbours() {
      neighbours.clearLayers();
      near = [];
      var b = editing.getBounds().pad(0.5);
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].join(",");
      var level = {6: "district", 9: "street", 12: "community", 15: "unit_grid"}[code.length];
      api("/api/v1/grids?level=" + level + "&limit=200&bbox=" + bbox).then(function (n) {
        (n.ok ? n.body.features : []).filter(function (f) { return f.properties.code !== code; }).forEach(function (f) {
          // shown, snapped to, not edited; a click on one during a merge picks it
          var layer = L.geoJSON(f, {style: {color: "#495057", weight: 1, dashArray: "3 3", fillOpacity: 0},
                                    coordsToLatLng: wangge.coordsToLatLng, pmIgnore: false}).getLayers()[0];
          layer.on("click", function (e) { if (pending && pending.pick) { L.DomEvent.stop(e); pending.pick(f.properties.code, f.properties.name); } });
          layer.addTo(neighbours);
          near.push({code: f.properties.code, name: f.properties.name, layer: layer});
        });
        document.body.setAttribute("data-neighbours", String(near.length));
      });
    }

    function load(which) {
      api("/api/v1/grids/" + encodeURIComponent(which)).then(function (r) {
        if (!r.ok) { report.textContent = "没有网格 " + which + "（或不在您的区域内）。"; return; }
        if (editing) editing.remove();
        found.clearLayers(); past.clearLayers(); preview.clearLayers();
        code = which; moves = []; cancel();
        document.getElementById("wg-code").value = code;
        document.getElementById("wg-title").textContent = (r.body.properties.name || "") + "（" + code + "）";
        editing = L.geoJSON(r.body, {style: {color: "#d9480f", weight: 3, fillOpacity: 0.15},
                                     coordsToLatLng: wangge.coordsToLatLng}).getLayers()[0].addTo(map);
        editing.pm.enable({snappable: true, allowSelfIntersection: false});
        track(editing);
        loadNeighbours();
        map.fitBounds(editing.getBounds().pad(0.3));
        report.textContent = "拖动顶点修改边界（靠近相邻网格时自动吸附），然后检查、保存。";
        history();
        document.body.setAttribute("data-loaded", code);
      });
    }

    // what the vertex drags did, as moves from the old position to the new one (a vertex dragged
    // twice is one move; a new vertex starts where leaflet-geoman added it)
    function track(layer) {
      var start = new Map(), added = new Map();
      var at = function (ll) { return [ll.lng, ll.lat]; };
      layer.on("pm:vertexadded", function (e) { added.set(e.marker, at(e.latlng)); });
      layer.on("pm:markerdragstart", function (e) { start.set(e.markerEvent.target, at(e.markerEvent.target.getLatLng())); });
      layer.on("pm:markerdragend", function (e) {
        var m = e.markerEvent.target, from = added.get(m) || start.get(m), to = at(m.getLatLng());
        added.delete(m);
        if (!from || same(from, to)) return;
        state.recordMove(from, to);
      });
    }
    state.recordMove = function (from, to) {
      var prior = moves.filter(function (m) { return same(m.to, from); })[0];
      if (prior) prior.to = to; else moves.push({from: from, to: to});
    };

    // the neighbours whose shared vertices the moves touched, with their boundary moved alike
    function followers() {
      return near.map(function (n) {
        var f = n.layer.toGeoJSON(false);
        return follow(f.geometry, moves) ? {code: n.code, name: n.name, feature: {type: "Feature", properties: {code: n.code}, geometry: f.geometry}} : null;
      }).filter(Boolean);
    }

    function offerFollowers(list) {
      var box = document.getElementById("wg-follow");
      box.textContent = "";
      if (!list.length) return;
      box.appendChild(el("p", {"class": "wg-muted", text: "移动的顶点与相邻网格共用。一并移动它们的边界（一起保存，不留缝隙或重叠）："}));
      list.forEach(function (n) {
        var input = el("input", {type: "checkbox", value: n.code});
        input.checked = true;
        box.appendChild(el("label", {"class": "wg-row"}, [input, " " + (n.name || "") + "（" + n.code + "）"]));
      });
    }

    function chosenFollowers() {
      var all = followers(), picked = {};
      document.querySelectorAll("#wg-follow input[type=checkbox]").forEach(function (i) { picked[i.value] = i.checked; });
      return all.filter(function (n) { return picked[n.code] !== false; });
    }

    function showImpact(r) {
      if (!r.ok) return;
      var m = r.body, box = el("div", {id: "wg-impact"}, [el("h3", {text: "影响"})]);
      [["在办工单移出", m.cases_leaving], ["在办工单移入", m.cases_joining], ["部件移出", m.components_leaving],
       ["部件移入", m.components_joining]].forEach(function (kv) {
        box.appendChild(el("div", {"class": "wg-row"}, [el("span", {"class": "wg-key", text: kv[0]}),
          el("span", {text: kv[1].count + (kv[1].count ? "：" + kv[1].ids.slice(0, 12).join("、") + (kv[1].count > 12 ? " 等" : "") : "")})]));
      });
      box.appendChild(el("div", {"class": "wg-row"}, [el("span", {"class": "wg-key", text: "本网格网格员"}),
        el("span", {text: m.workers.join("、") || "—"})]));
      report.appendChild(box);
    }

    function redraw(dry) {
      if (!editing) return;
      var body = feature(), crs = crsQuery();
      var list = followers();
      if (dry) offerFollowers(list);
      if (!dry && list.length && !document.querySelector("#wg-follow input")) {
        offerFollowers(list);  // never save a neighbour the user has not seen offered
        report.textContent = "移动的顶点与相邻网格共用：请先确认是否一并移动（已列出），再保存。";
        document.body.setAttribute("data-report", "offered");
        return;
      }
      var with_ = dry ? list : chosenFollowers();
      preview.clearLayers();  // the neighbours' boundaries as they would follow (map coordinates already)
      if (dry) list.forEach(function (n) { L.geoJSON(n.feature, {interactive: false, style: {color: "#e8590c", weight: 2, dashArray: "6 4", fillOpacity: 0}}).addTo(preview); });
      var request = with_.length
        ? api("/api/v1/grids?dry_run=" + dry + crs, {method: "PUT", body: {type: "FeatureCollection",
            features: [body].concat(with_.map(function (n) { return n.feature; }))}})
        : api("/api/v1/grids/" + code + "?dry_run=" + dry + crs, {method: "PUT", body: body});
      request.then(function (r) {
        showReport(r, !dry && r.ok);
        if (!dry && r.ok) { moves = []; document.getElementById("wg-follow").textContent = ""; history(); loadNeighbours(); }
        if (dry) api("/api/v1/grids/" + code + "/impact?" + crs.slice(1), {method: "POST", body: body}).then(showImpact);
      });
    }

    // split, merge and new grid: a dry run first, then 确认 does it
    function propose(label, run, pick) {
      cancel();
      pending = {label: label, run: run, pick: pick};
      document.getElementById("wg-confirm").hidden = false;
      document.getElementById("wg-cancel").hidden = false;
      document.getElementById("wg-confirm").textContent = "确认" + label;
    }

    var drawn = null;  // the pm:create handler of the drawing under way
    function onDrawn(handler) {
      if (drawn) map.off("pm:create", drawn);
      drawn = function (e) { map.off("pm:create", drawn); drawn = null; handler(e); };
      map.on("pm:create", drawn);
    }

    function cancel() {
      if (drawn) { map.off("pm:create", drawn); drawn = null; }
      if (pending && pending.cleanup) pending.cleanup();
      pending = null;
      map.pm.disableDraw();
      ["wg-confirm", "wg-cancel"].forEach(function (id) { document.getElementById(id).hidden = true; });
    }

    function ran(label, then) {
      return function (r) {
        showReport(r, r.ok && !r.body.dry_run, "已" + label + "，新版本已生效");
        if (r.ok && !r.body.dry_run) { cancel(); then(r.body); }
      };
    }

    function startSplit() {
      if (!code) return;
      cancel();
      report.textContent = "在地图上画一条穿过本网格的线（单击加点，双击结束）。";
      map.pm.enableDraw("Line", {snappable: true});
      onDrawn(function (e) {
        var line = e.layer;
        var run = function (dry) {
          return api("/api/v1/grids/" + code + "/split?dry_run=" + dry + crsQuery(), {method: "POST", body: {line: line.toGeoJSON()}});
        };
        propose("拆分", run);
        pending.cleanup = function () { line.remove(); };
        run(true).then(ran("拆分", function () { line.remove(); load(code); }));
      });
    }

    function startMerge() {
      if (!code) return;
      propose("合并", null, function (other, name) {
        var run = function (dry) {
          return api("/api/v1/grids/" + code + "/merge?dry_run=" + dry, {method: "POST", body: {"with": other}});
        };
        pending.run = run;
        report.textContent = "并入 " + (name || "") + "（" + other + "）……";
        run(true).then(ran("合并", function () { load(code); }));
      });
      report.textContent = "点击要并入本网格的相邻网格（须与本网格共边、同属一个上级）。";
    }

    function startNew() {
      cancel();
      report.textContent = "在地图上画出新网格（单击加点，点击起点结束）；上级网格按位置确定，代码按标准顺序编号。";
      map.pm.enableDraw("Polygon", {snappable: true, allowSelfIntersection: false});
      onDrawn(function (e) {
        var shape = e.layer, c = shape.getBounds().getCenter();
        api("/api/v1/lookup?lon=" + c.lng + "&lat=" + c.lat + "&crs=" + encodeURIComponent(wangge.mapCrs)).then(function (r) {
          var parent = r.ok && r.body.community;
          if (!parent) { shape.remove(); report.textContent = "新网格须在您管理的某个社区内。"; return; }
          var run = function (dry) {
            return api("/api/v1/grids/" + parent.code + "/children?dry_run=" + dry + crsQuery(), {method: "POST", body: shape.toGeoJSON()});
          };
          propose("新建", run);
          pending.cleanup = function () { shape.remove(); };
          run(true).then(ran("新建", function (body) { shape.remove(); load(body.codes[0]); }));
        });
      });
    }

    map.on("click", function (e) {
      if (pending || map.pm.globalDrawModeEnabled()) return;
      if (editing && editing.getBounds().contains(e.latlng)) return;
      api("/api/v1/lookup?lon=" + e.latlng.lng + "&lat=" + e.latlng.lat + "&crs=" + encodeURIComponent(wangge.mapCrs))
        .then(function (r) { if (r.ok && r.body.unit_grid) load(r.body.unit_grid.code); });
    });
    document.getElementById("wg-pick").addEventListener("submit", function (e) { e.preventDefault(); load(document.getElementById("wg-code").value.trim()); });
    document.getElementById("wg-check").addEventListener("click", function () { redraw(true); });
    document.getElementById("wg-save").addEventListener("click", function () { redraw(false); });
    document.getElementById("wg-split").addEventListener("click", startSplit);
    document.getElementById("wg-merge").addEventListener("click", startMerge);
    document.getElementById("wg-new").addEventListener("click", startNew);
    document.getElementById("wg-confirm").addEventListener("click", function () {
      if (!pending || !pending.run) return;
      var label = pending.label, run = pending.run, cleanup = pending.cleanup;
      run(false).then(ran(label, function (body) {
        if (cleanup) cleanup();
        if (label === "新建") load(body.codes[0]); else load(code);
      }));
    });
    document.getElementById("wg-cancel").addEventListener("click", function () { cancel(); report.textContent = ""; });
    document.getElementById("wg-asof").addEventListener("change", asOf);
    state.load = load; state.split = startSplit; state.merge = startMerge; state.create = startNew;
    state.pick = function (other) { var n = near.filter(function (x) { return x.code === other; })[0]; if (pending && pending.pick) pending.pick(other, n && n.name); };
  };
})();
