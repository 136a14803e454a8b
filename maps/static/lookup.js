// "谁负责这里" (/maps/lookup): click the map, or paste coordinates in any supported CRS (GCJ-02
// from a phone included), and see the four grids, the gridworkers and grid leaders, the unit each
// event class goes to, and the components nearby with their owners and maintainers.
(function () {
  var api = wangge.api, el = wangge.el;
  var LEVELS = [["district", "区/县"], ["street", "街道/镇"], ["community", "社区/村"], ["unit_grid", "单元网格"]];

  function section(title, body) {
    return el("section", {"class": "wg-section"}, [el("h3", {text: title})].concat(body));
  }

  function render(box, found, resp, workers, comps) {
    box.textContent = "";
    box.appendChild(el("p", {"class": "wg-coords", id: "wg-point",
      text: "CGCS2000 " + found.lon.toFixed(6) + ", " + found.lat.toFixed(6)}));
    if (found.outside) {
      box.appendChild(el("p", {"class": "wg-warn", id: "wg-outside", text: "此点不在您可查看的网格内。"}));
      return;
    }
    box.appendChild(section("所属网格", LEVELS.map(function (l) {
      var g = found[l[0]];
      return el("div", {"class": "wg-row", "data-level": l[0]},
        [el("span", {"class": "wg-key", text: l[1]}), el("span", {text: g ? g.name + "（" + g.code + "）" : "—"})]);
    })));
    if (found.on_boundary) {
      box.appendChild(el("p", {"class": "wg-warn", text: "注意：此点位于单元网格边界上（距边界 " +
        (found.boundary_distance_m || 0).toFixed(1) + " 米）。"}));
    }
    var people = workers === null ? [el("p", {"class": "wg-muted", text: "无权查看网格员。"})]
      : workers.length === 0 ? [el("p", {"class": "wg-muted", text: "此网格未登记网格员。"})]
      : workers.map(function (w) {
          return el("div", {"class": "wg-row wg-worker"}, [el("span", {"class": "wg-key",
            text: w.role === "grid_leader" ? "网格长" : "网格员"}), el("span", {text: w.name + "（" + w.worker_id + "）"})]);
        });
    box.appendChild(section("网格员", people));
    var rows = (resp && resp.classes || []).map(function (c) {
      return el("tr", {"data-class": c["class"]}, [el("td", {text: c.minor_name + "（" + c["class"] + "）"}),
        el("td", {text: c.unit_name || c.resp_unit || "未指定"}), el("td", {"class": "wg-muted", text: wangge.whyText(c.reason), title: c.why})]);
    });
    box.appendChild(section("各类事件的责任单位", [resp === null ? el("p", {"class": "wg-muted", text: "无权查看责任单位。"})
      : el("table", {"class": "wg-table", id: "wg-responsible"}, [el("thead", {}, [el("tr", {}, [
          el("th", {text: "事件类别"}), el("th", {text: "责任单位"}), el("th", {text: "依据"})])]), el("tbody", {}, rows)])]));
    var near = comps === null ? [el("p", {"class": "wg-muted", text: "无权查看部件。"})]
      : comps.length === 0 ? [el("p", {"class": "wg-muted", text: "附近 100 米内没有部件。"})]
      : comps.map(function (f) {
          var p = f.properties;
          return el("div", {"class": "wg-row"}, [el("span", {"class": "wg-key", text: p.minor_name || p.class_code}),
            el("span", {text: (p.name || f.id) + " · 权属 " + (p.owner_unit || "—") + " · 养护 " + (p.maintainer_unit || "—")})]);
        });
    box.appendChild(section("附近部件", near));
  }

  var DENIED = Promise.resolve({ok: false, status: 403, body: null});

  wangge.lookupPage = function (map) {
    var box = document.getElementById("wg-result"), marker = null, may = {};
    // ask only for what the caller's roles allow (a planner sees no gridworkers)
    var me = api("/api/v1/auth/me").then(function (r) {
      (r.ok ? r.body.permissions : []).forEach(function (p) { may[p] = true; });
    });
    function show(lon, lat, crs) {
      box.textContent = "查询中…";
      var q = "lon=" + encodeURIComponent(lon) + "&lat=" + encodeURIComponent(lat) + "&crs=" + encodeURIComponent(crs);
      me.then(function () {
        return Promise.all([api("/api/v1/lookup?" + q),
                            may["registry:read"] ? api("/api/v1/lookup/responsible?" + q) : DENIED]);
      }).then(function (r) {
        if (!r[0].ok) { box.textContent = (r[0].body && r[0].body.message) || "查询失败"; return; }
        var found = r[0].body, resp = r[1].ok ? r[1].body : null;
        if (marker) marker.remove();
        marker = L.marker(wangge.toMap(found.lat, found.lon)).addTo(map);
        var grid = found.unit_grid && found.unit_grid.code, d = 0.001;
        var bbox = [found.lon - d, found.lat - d, found.lon + d, found.lat + d].join(",");
        return Promise.all([
          !may["workers:read"] ? DENIED : grid ? api("/api/v1/workers?grid=" + grid) : Promise.resolve({ok: true, body: {items: []}}),
          may["components:read"] ? api("/api/v1/components?limit=50&bbox=" + bbox) : DENIED
        ]).then(function (more) {
          var workers = more[0].ok ? more[0].body.items : null;
          var comps = more[1].ok ? more[1].body.features : null;
          render(box, found, resp, workers, comps);
          document.body.setAttribute("data-lookup", "done");
        });
      });
    }
    map.on("click", function (e) { show(e.latlng.lng, e.latlng.lat, wangge.mapCrs); });
    document.getElementById("wg-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var parts = document.getElementById("wg-coords").value.split(/[\s,，]+/).filter(Boolean).map(Number);
      if (parts.length !== 2 || parts.some(isNaN)) { box.textContent = "请输入“经度,纬度”，例如 110.33,20.03"; return; }
      show(parts[0], parts[1], document.getElementById("wg-crs").value);
    });
  };
})();
