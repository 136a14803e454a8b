// 热点分析 (/maps/hotspots): Getis-Ord Gi* hot and cold spots of a season or a year, drawn on the
// grid tiles in ArcGIS's colours (and as dots at the grids' label points, visible at any zoom);
// a click on a grid charts its cases per month over the period (ECharts).
(function () {
  var api = wangge.api, el = wangge.el;
  var COLLECTION = {street: "grids-street", community: "grids-community", unit_grid: "grids-unit"};
  // ArcGIS Pro's Hot Spot Analysis renderer: cold 99/95/90 %, not significant, hot 90/95/99 %
  var COLOURS = {"-3": "#4575b5", "-2": "#849eba", "-1": "#c0ccbe", "0": "#ffffbf", "1": "#fab984", "2": "#ed7551", "3": "#d62f27"};
  var NAMES = {"-3": "冷点 99%", "-2": "冷点 95%", "-1": "冷点 90%", "0": "不显著", "1": "热点 90%", "2": "热点 95%", "3": "热点 99%"};
  // the emerging categories (ArcGIS's 17), hot reds to cold blues
  var EMERGING = {
    new_hot: ["新热点", "#7f0000"], consecutive_hot: ["连续热点", "#b30000"], intensifying_hot: ["增强热点", "#d7301f"],
    persistent_hot: ["持续热点", "#ef6548"], diminishing_hot: ["减弱热点", "#fc8d59"], sporadic_hot: ["零星热点", "#fdbb84"],
    oscillating_hot: ["振荡热点", "#fdd49e"], historical_hot: ["历史热点", "#fee8c8"],
    new_cold: ["新冷点", "#08306b"], consecutive_cold: ["连续冷点", "#08519c"], intensifying_cold: ["增强冷点", "#2171b5"],
    persistent_cold: ["持续冷点", "#4292c6"], diminishing_cold: ["减弱冷点", "#6baed6"], sporadic_cold: ["零星冷点", "#9ecae1"],
    oscillating_cold: ["振荡冷点", "#c6dbef"], historical_cold: ["历史冷点", "#deebf7"], no_pattern: ["无模式", "#f7f7f7"]
  };

  wangge.hotspotsPage = function (map, options) {
    var form = document.getElementById("wg-hot"), layer = null, dots = L.layerGroup().addTo(map);
    var answer = null, bins = {}, chart = null, renderer = L.canvas({padding: 0.5});
    var state = wangge.hot = {answer: function () { return answer; }, binOf: function (c) { return bins[c]; },
                              open: function (c, n) { openGrid(c, n); }};

    function period() {  // the season of a year (a winter: December before to February), or the year
      var f = new FormData(form), year = Number(f.get("year")), season = f.get("season");
      if (season) return "season=" + season + "&year=" + year;
      return "from=" + encodeURIComponent(year + "-01-01T00:00:00+08:00") + "&to=" + encodeURIComponent((year + 1) + "-01-01T00:00:00+08:00");
    }

    function query() {
      var f = new FormData(form), q = [period(), "level=" + f.get("level"), "fdr=" + (f.get("fdr") ? "true" : "false")];
      ["class", "region"].forEach(function (k) { if (f.get(k)) q.push(k + "=" + encodeURIComponent(f.get(k))); });
      return q.join("&");
    }

    // the answer as files for GIS staff and spreadsheets (the session's cookie signs the download)
    function exports(path, q) {
      var box = document.getElementById("wg-hot-export");
      box.textContent = "导出：";
      [["geojson", "GeoJSON"], ["gpkg", "GeoPackage"], ["csv", "CSV"]].forEach(function (f, k) {
        if (k) box.appendChild(document.createTextNode(" · "));
        box.appendChild(el("a", {href: "../api/v1/analytics/" + path + "?format=" + f[0] + "&" + q, download: "", "data-format": f[0]}, [f[1]]));
      });
    }

    function legend() {
      var box = document.getElementById("wg-hot-legend");
      box.textContent = "";
      ["3", "2", "1", "0", "-1", "-2", "-3"].forEach(function (k) {
        var n = answer ? answer.bins[k] : 0;
        box.appendChild(el("span", {"class": "wg-key-item"}, [el("span", {"class": "wg-swatch", style: "background:" + COLOURS[k]}), NAMES[k] + " " + n]));
      });
    }

    // 时空模式: the emerging categories over the 36 months before the chosen year's end (or the
    // chosen season of the last eight years)
    function drawEmerging() {
      var status = document.getElementById("wg-hot-status"), f = new FormData(form);
      var year = Number(f.get("year")), season = f.get("season"), level = f.get("level");
      var q = ["level=" + level, "fdr=" + (f.get("fdr") ? "true" : "false")];
      if (season) {  // the season of the eight years to the chosen one
        q.push("to=" + encodeURIComponent((year + 1) + "-01-01T00:00:00+08:00"), "step=season", "season=" + season);
        q.push("from=" + encodeURIComponent((season === "winter" ? year - 8 : year - 7) + "-" + (season === "winter" ? "12" : "01") + "-01T00:00:00+08:00"));
      } else {  // the 36 whole months to the chosen year's end, or to this month (China time)
        var today = wangge.chinaDay(), end = Math.min((year + 1) * 12, Number(today.slice(0, 4)) * 12 + Number(today.slice(5, 7)) - 1);
        var month = function (n) { return Math.floor(n / 12) + "-" + ("0" + (n % 12 + 1)).slice(-2) + "-01T00:00:00+08:00"; };
        q.push("from=" + encodeURIComponent(month(end - 36)), "to=" + encodeURIComponent(month(end)));
      }
      ["class", "region"].forEach(function (k) { if (f.get(k)) q.push(k + "=" + encodeURIComponent(f.get(k))); });
      status.textContent = "分析中…";
      api("/api/v1/analytics/emerging?" + q.join("&")).then(function (r) {
        if (!r.ok) { status.textContent = (r.body && r.body.message) || "分析失败"; return; }
        answer = r.body; bins = {};
        var cats = {};
        answer.grids.forEach(function (g) { cats[g.code] = g.category; });
        if (layer) map.removeLayer(layer);
        dots.clearLayers();
        var styles = {};
        styles[COLLECTION[level]] = function (p) {
          var c = cats[p.code];
          return {weight: 0.5, color: "#666", fill: true, fillColor: c ? EMERGING[c][1] : "#ffffff", fillOpacity: c && c !== "no_pattern" ? 0.85 : 0.2};
        };
        layer = L.vectorGrid.protobuf("../tiles/" + COLLECTION[level] + "/{z}/{x}/{y}.pbf" + options.shift, {
          rendererFactory: L.canvas.tile, interactive: true, maxNativeZoom: 20,
          getFeatureId: function (f) { return f.properties.code; }, vectorTileLayerStyles: styles
        }).addTo(map);
        layer.on("click", function (e) { openGrid(e.layer.properties.code, e.layer.properties.name); });
        var box = document.getElementById("wg-hot-legend");
        box.textContent = "";
        Object.keys(EMERGING).forEach(function (k) {
          if (!answer.categories[k] && k !== "no_pattern") return;
          box.appendChild(el("span", {"class": "wg-key-item"}, [el("span", {"class": "wg-swatch", style: "background:" + EMERGING[k][1]}), EMERGING[k][0] + " " + answer.categories[k]]));
        });
        state.categoryOf = function (c) { return cats[c]; };
        exports("emerging", q.join("&"));
        status.textContent = answer.steps.length + " 个时段（" + answer.steps[0] + " 至 " + answer.steps[answer.steps.length - 1] + "）· " + answer.grids.length + " 个网格";
        document.body.setAttribute("data-hot", String((Number(document.body.getAttribute("data-hot")) || 0) + 1));
      });
    }

    function draw() {
      if (new FormData(form).get("mode") === "emerging") return drawEmerging();
      var status = document.getElementById("wg-hot-status");
      status.textContent = "分析中…";
      var level = new FormData(form).get("level");
      api("/api/v1/analytics/hotspots?format=json&" + query()).then(function (r) {
        if (!r.ok) { status.textContent = (r.body && r.body.message) || "分析失败"; return; }
        answer = r.body; bins = {};
        answer.grids.forEach(function (g) { bins[g.code] = g.gi_bin; });
        if (layer) map.removeLayer(layer);
        var styles = {};
        styles[COLLECTION[level]] = function (p) {
          var b = bins[p.code];
          return {weight: 0.5, color: "#666", fill: true, fillColor: b === undefined ? "#ffffff" : COLOURS[b], fillOpacity: b === undefined ? 0.1 : b ? 0.8 : 0.55};
        };
        layer = L.vectorGrid.protobuf("../tiles/" + COLLECTION[level] + "/{z}/{x}/{y}.pbf" + options.shift, {
          rendererFactory: L.canvas.tile, interactive: true, maxNativeZoom: 20,
          getFeatureId: function (f) { return f.properties.code; }, vectorTileLayerStyles: styles
        }).addTo(map);
        layer.on("click", function (e) { openGrid(e.layer.properties.code, e.layer.properties.name); });
        dots.clearLayers();  // the significant grids, visible at any zoom
        answer.grids.forEach(function (g) {
          if (!g.gi_bin) return;
          L.circleMarker(wangge.coordsToLatLng([g.lon, g.lat]), {renderer: renderer, radius: 3 + Math.abs(g.gi_bin),
            color: "#333", weight: 0.5, fillColor: COLOURS[g.gi_bin], fillOpacity: 0.95})
            .on("click", function () { openGrid(g.code, g.name); }).addTo(dots);
        });
        legend();
        var hot = answer.bins["3"] + answer.bins["2"] + answer.bins["1"], cold = answer.bins["-3"] + answer.bins["-2"] + answer.bins["-1"];
        status.textContent = "共 " + answer.total + " 件 · " + answer.grids.length + " 个网格 · 热点 " + hot + " 个、冷点 " + cold + " 个" +
          (answer.fdr ? "（FDR 校正）" : "") + (answer.islands.length ? " · " + answer.islands.length + " 个孤立网格按最近网格计" : "");
        var f = new FormData(form), link = document.getElementById("wg-hot-report");
        var rq = ["year=" + f.get("year"), "level=" + f.get("level"), "fdr=" + (f.get("fdr") ? "true" : "false")];
        if (f.get("season")) rq.push("season=" + f.get("season"));
        ["class", "region"].forEach(function (k) { if (f.get(k)) rq.push(k + "=" + encodeURIComponent(f.get(k))); });
        link.href = "hotspots/report?" + rq.join("&");
        exports("hotspots", query());
        document.body.setAttribute("data-hot", String((Number(document.body.getAttribute("data-hot")) || 0) + 1));
      });
    }

    function openGrid(code, name) {
      var q = query().split("&").filter(function (p) { return !/^(level|fdr|region)=/.test(p); });
      api("/api/v1/analytics/series?step=month&region=" + code + "&" + q.join("&")).then(function (r) {
        if (!r.ok) return;
        var g = answer && answer.grids.filter(function (x) { return x.code === code; })[0];
        document.getElementById("wg-hot-title").textContent = (name || "") + "（" + code + "）" +
          (g ? " · Gi* z = " + g.gi_z + "，" + NAMES[String(g.gi_bin)] : "");
        if (!chart) chart = echarts.init(document.getElementById("wg-hot-chart"), null, {renderer: "canvas"});
        chart.setOption({
          animation: false, title: {text: "逐月案件", left: "center", textStyle: {fontSize: 12}},
          grid: {left: 40, right: 10, top: 30, bottom: 30}, tooltip: {trigger: "axis"},
          xAxis: {type: "category", data: r.body.map(function (m) { return m.period; })},
          yAxis: {type: "value", minInterval: 1},
          series: [{type: "bar", data: r.body.map(function (m) { return m.count; }), itemStyle: {color: g ? COLOURS[String(g.gi_bin)] : "#cc4c02"}}]
        }, true);
        document.body.setAttribute("data-chart", code);
      });
    }

    form.addEventListener("submit", function (e) { e.preventDefault(); draw(); });
    draw();
  };
})();
