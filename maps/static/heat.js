// 案件热力 (/maps/heat): case counts per grid at a chosen level, aggregated on the server, drawn on
// the grid tiles with a fixed, labelled class scale (a count has the same colour in every view,
// season and district); a comparison with a year earlier (同比) or the period before (环比) as a
// difference map; a click on a grid charts its months and its top event classes (ECharts).
(function () {
  var api = wangge.api, el = wangge.el;
  var COLLECTION = {district: "grids-district", street: "grids-street", community: "grids-community", unit_grid: "grids-unit"};
  var SEASONS = {all: "", spring: "3,4,5", summer: "6,7,8", autumn: "9,10,11", winter: "12,1,2"};
  var HEAT = ["#fff7bc", "#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#a63603", "#7f2704", "#5c1a03", "#3d1002", "#200801"];
  // the case points: a red scale over the same breaks, to stand out from the choropleth's
  var POINTS = ["#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d", "#a50f15", "#800b10", "#67000d", "#4d000a", "#380007", "#260005", "#150003"];
  var DIFF = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f", "#3b0011"];

  function classOf(value, breaks) {  // the last break the value reaches; -1 below the first
    var k = -1;
    for (var i = 0; i < breaks.length; i++) if (value >= breaks[i]) k = i;
    return k;
  }

  wangge.heatPage = function (map, options) {
    var layer = null, cells = null, answer = null, values = {}, chart = null;
    var form = document.getElementById("wg-heat");
    var state = wangge.heat = {answer: function () { return answer; }, colourOf: colourOf, open: function (c, n) { openGrid(c, n); }};

    function colourOf(code) {
      if (!answer) return null;
      var v = values[code];
      if (answer.compare) {
        if (v === undefined) return null;
        return DIFF[Math.max(0, Math.min(DIFF.length - 1, classOf(v, answer.breaks) + 1))];
      }
      var k = v === undefined ? -1 : classOf(v, answer.breaks);
      return k < 0 ? null : HEAT[Math.min(k, HEAT.length - 1)];
    }

    function query() {
      var f = new FormData(form), q = [];
      ["level", "class", "channel", "state", "compare", "region"].forEach(function (k) { if (f.get(k)) q.push(k + "=" + encodeURIComponent(f.get(k))); });
      if (f.get("from")) q.push("from=" + encodeURIComponent(wangge.chinaTime(f.get("from"), "00:00").toISOString()));
      if (f.get("to")) q.push("to=" + encodeURIComponent(new Date(wangge.chinaTime(f.get("to"), "00:00").getTime() + 86400000).toISOString()));
      if (SEASONS[f.get("season")]) q.push("months=" + SEASONS[f.get("season")]);
      return q.join("&");
    }

    function legend() {
      var box = document.getElementById("wg-legend");
      box.textContent = "";
      var b = answer.breaks, colours = answer.compare ? DIFF : HEAT;
      var items = answer.compare
        ? [["< " + b[0], colours[0]]].concat(b.map(function (v, i) { return ["≥ " + (v > 0 ? "+" : "") + v, colours[i + 1]]; }))
        : b.map(function (v, i) { return ["≥ " + v, colours[i]]; });
      items.forEach(function (it) {
        box.appendChild(el("span", {"class": "wg-key-item"}, [el("span", {"class": "wg-swatch", style: "background:" + it[1]}), it[0]]));
      });
    }

    function draw() {
      document.getElementById("wg-heat-status").textContent = "统计中…";
      var level = new FormData(form).get("level");
      api("/api/v1/cases-heat?" + query()).then(function (r) {
        if (!r.ok) { document.getElementById("wg-heat-status").textContent = (r.body && r.body.message) || "统计失败"; return; }
        answer = r.body; values = {};
        answer.groups.forEach(function (g) { values[g.code] = answer.compare ? g.diff : g.count; });
        var collection = COLLECTION[level];
        if (layer) map.removeLayer(layer);
        var styles = {};
        styles[collection] = function (p) {
          var c = colourOf(p.code);
          return {weight: 0.6, color: "#555", fill: true, fillColor: c || "#ffffff", fillOpacity: c ? 0.75 : 0.05};
        };
        layer = L.vectorGrid.protobuf("../tiles/" + collection + "/{z}/{x}/{y}.pbf" + options.shift, {
          rendererFactory: L.canvas.tile, interactive: true, maxNativeZoom: 20,
          getFeatureId: function (f) { return f.properties.code; }, vectorTileLayerStyles: styles
        }).addTo(map);
        layer.on("click", function (e) { openGrid(e.layer.properties.code, e.layer.properties.name); });
        drawCells();
        legend();
        var status = (answer.compare ? (answer.compare === "yoy" ? "同比" : "环比") + " 本期 " + answer.total + " 件，对比期 " + answer.base_total + " 件"
                                     : "共 " + answer.total + " 件") + " · " + answer.groups.length + " 个网格";
        if (level === "unit_grid" && map.getZoom() < 13) status += "（单元网格请放大到 13 级以上查看）";
        document.getElementById("wg-heat-status").textContent = status;
        document.body.setAttribute("data-heat", String((Number(document.body.getAttribute("data-heat")) || 0) + 1));
      });
    }

    // the case tiles' counts (one per grid, at its label point: unit grids from zoom 12) on the
    // same absolute scale as the choropleth, under the same filters but the level and comparison
    function drawCells() {
      if (cells) { map.removeLayer(cells); cells = null; }
      if (!form.elements.cells.checked) return;
      var q = query().split("&").filter(function (p) { return p && !/^(level|compare)=/.test(p); });
      // the period the counts were for (the last twelve months when the form left it open)
      if (!q.some(function (p) { return /^from=/.test(p); })) q.push("from=" + encodeURIComponent(answer.from));
      if (!q.some(function (p) { return /^to=/.test(p); })) q.push("to=" + encodeURIComponent(answer.to));
      if (options.shift) q.push(options.shift.slice(1));
      cells = L.vectorGrid.protobuf("../tiles/cases/{z}/{x}/{y}.pbf" + (q.length ? "?" + q.join("&") : ""), {
        rendererFactory: L.canvas.tile, interactive: false, maxNativeZoom: 14, pane: "markerPane",
        vectorTileLayerStyles: {cases: function (p) {
          var k = classOf(p.count, options.breaks);
          return {radius: 4 + 2 * Math.max(k, 0), stroke: true, weight: 1, color: "#ffffff", fill: true,
                  fillColor: POINTS[Math.max(0, Math.min(k, POINTS.length - 1))], fillOpacity: 0.9};
        }}
      }).addTo(map);
    }

    function openGrid(code, name) {
      var q = query().split("&").filter(function (p) { return !/^(level|compare|region)=/.test(p); }).join("&");
      api("/api/v1/cases-heat/" + code + "?" + q).then(function (r) {
        if (!r.ok) return;
        document.getElementById("wg-grid-title").textContent = (name || "") + "（" + code + "）";
        var box = document.getElementById("wg-chart");
        if (!chart) chart = echarts.init(box, null, {renderer: "canvas"});
        chart.setOption({
          animation: false,
          grid: [{left: 40, right: 10, top: 25, height: 120}, {left: 90, right: 10, top: 200, height: 150}],
          title: [{text: "每月案件", textStyle: {fontSize: 12}}, {text: "主要事件类别", top: 175, textStyle: {fontSize: 12}}],
          tooltip: {},
          xAxis: [{gridIndex: 0, type: "category", data: r.body.months.map(function (m) { return m.month; })},
                  {gridIndex: 1, type: "value"}],
          yAxis: [{gridIndex: 0, type: "value"},
                  {gridIndex: 1, type: "category", inverse: true, data: r.body.top_classes.map(function (c) { return c.name; })}],
          series: [{type: "bar", xAxisIndex: 0, yAxisIndex: 0, data: r.body.months.map(function (m) { return m.count; }), itemStyle: {color: "#cc4c02"}},
                   {type: "bar", xAxisIndex: 1, yAxisIndex: 1, data: r.body.top_classes.map(function (c) { return c.count; }), itemStyle: {color: "#2a6f97"}}]
        }, true);
        document.body.setAttribute("data-chart", code);
      });
    }

    api("/api/v1/event-classes?limit=500").then(function (r) {
      var select = form.querySelector("select[name=class]"), majors = {};
      (r.ok ? r.body.items : []).forEach(function (c) {
        var major = c.code.slice(0, 2) + "00";
        if (!majors[major]) { majors[major] = true; select.appendChild(el("option", {value: major, text: c.major_name + "（全部）"})); }
        select.appendChild(el("option", {value: c.code, text: "　" + c.minor_name + "（" + c.code + "）"}));
      });
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); draw(); });
    draw();
  };
})();
