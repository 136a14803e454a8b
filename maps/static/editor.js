// 网格编辑 (/maps/editor): a grid administrator selects a grid of their area (a click on the map
// picks the unit grid there, or type its code), moves its vertices with snapping to the
// neighbours (leaflet-geoman's free edition), checks the change with a dry run of the versioned
// redraw (what the validation refuses, what it would close), and saves it as a new version.
(function () {
  var api = wangge.api, el = wangge.el;

  wangge.editorPage = function (map, options) {
    var editing = null, neighbours = L.layerGroup().addTo(map), code = null;
    var report = document.getElementById("wg-report");
    var state = wangge.editor = {layer: function () { return editing; }, code: function () { return code; }};
    if (!isFinite(map.getMaxZoom())) map.setMaxZoom(22);
    map.pm.setGlobalOptions({snappable: true, snapDistance: 15, allowSelfIntersection: false});

    function feature() {
      var f = editing.toGeoJSON();
      return f.type === "FeatureCollection" ? f.features[0] : f;
    }

    function showReport(r, saved) {
      report.textContent = "";
      if (!r.ok && r.status !== 422) { report.appendChild(el("p", {"class": "wg-warn", text: (r.body && r.body.message) || "失败"})); return; }
      var body = r.status === 422 ? (r.body.details || r.body) : r.body;
      var rejected = body.rejected || [];
      report.appendChild(el("p", {id: "wg-verdict", "class": rejected.length ? "wg-warn" : "wg-ok",
        text: rejected.length ? "不能保存：" + rejected.length + " 处问题" : (saved ? "已保存为新版本" : "检查通过，可以保存")}));
      rejected.forEach(function (x) { report.appendChild(el("p", {"class": "wg-muted", text: (x.code || "") + " " + (x.reason || x.message || JSON.stringify(x))})); });
      (body.warnings || []).forEach(function (w) { report.appendChild(el("p", {"class": "wg-muted", text: "提示：" + w})); });
      if (body.valid_from) {
        var ms = Date.parse(body.valid_from);
        report.appendChild(el("p", {"class": "wg-muted", text: "生效时间 " + wangge.chinaDay(ms) + " " + wangge.clock(ms)}));
      }
      document.body.setAttribute("data-report", saved ? "saved" : "checked");
    }

    function history() {
      api("/api/v1/grids/" + code + "/versions").then(function (r) {
        var box = document.getElementById("wg-history");
        box.textContent = "";
        (r.ok ? r.body.features : []).forEach(function (f) {
          var p = f.properties;
          var when = function (t) { var ms = Date.parse(t); return wangge.chinaDay(ms) + " " + wangge.clock(ms); };
          box.appendChild(el("li", {text: when(p.valid_from) + " 起" + (p.valid_to ? "，至 " + when(p.valid_to) : "（现行）") +
            (p.source ? " · " + p.source : "")}));
        });
        document.body.setAttribute("data-versions", String(r.ok ? r.body.features.length : 0));
      });
    }

    function load(which) {
      api("/api/v1/grids/" + encodeURIComponent(which)).then(function (r) {
        if (!r.ok) { report.textContent = "没有网格 " + which + "（或不在您的区域内）。"; return; }
        if (editing) editing.remove();
        neighbours.clearLayers();
        code = which;
        document.getElementById("wg-code").value = code;
        document.getElementById("wg-title").textContent = (r.body.properties.name || "") + "（" + code + "）";
        editing = L.geoJSON(r.body, {style: {color: "#d9480f", weight: 3, fillOpacity: 0.15},
                                     coordsToLatLng: wangge.coordsToLatLng}).getLayers()[0].addTo(map);
        editing.pm.enable({snappable: true, allowSelfIntersection: false});
        var b = editing.getBounds().pad(0.5);
        var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].join(",");
        var level = {6: "district", 9: "street", 12: "community", 15: "unit_grid"}[code.length];
        api("/api/v1/grids?level=" + level + "&limit=200&bbox=" + bbox).then(function (n) {
          (n.ok ? n.body.features : []).filter(function (f) { return f.id !== code && f.properties.code !== code; })
            .forEach(function (f) {  // the neighbours: shown, snapped to, not edited
              L.geoJSON(f, {style: {color: "#495057", weight: 1, dashArray: "3 3", fillOpacity: 0},
                            coordsToLatLng: wangge.coordsToLatLng, pmIgnore: false}).addTo(neighbours);
            });
        });
        map.fitBounds(editing.getBounds().pad(0.3));
        report.textContent = "拖动顶点修改边界（靠近相邻网格时自动吸附），然后检查、保存。";
        history();
        document.body.setAttribute("data-loaded", code);
      });
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
      var crs = wangge.mapCrs === "gcj02" ? "&crs=gcj02" : "", body = feature();
      api("/api/v1/grids/" + code + "?dry_run=" + (dry ? "true" : "false") + crs, {method: "PUT", body: body})
        .then(function (r) {
          showReport(r, !dry && r.ok);
          if (!dry && r.ok) history();
          if (dry) api("/api/v1/grids/" + code + "/impact?" + crs.slice(1), {method: "POST", body: body}).then(showImpact);
        });
    }

    map.on("click", function (e) {
      if (editing && editing.getBounds().contains(e.latlng)) return;
      api("/api/v1/lookup?lon=" + e.latlng.lng + "&lat=" + e.latlng.lat + "&crs=" + encodeURIComponent(wangge.mapCrs))
        .then(function (r) { if (r.ok && r.body.unit_grid) load(r.body.unit_grid.code); });
    });
    document.getElementById("wg-pick").addEventListener("submit", function (e) { e.preventDefault(); load(document.getElementById("wg-code").value.trim()); });
    document.getElementById("wg-check").addEventListener("click", function () { redraw(true); });
    document.getElementById("wg-save").addEventListener("click", function () { redraw(false); });
    state.load = load;
  };
})();
