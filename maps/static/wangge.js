// What every wangge page shares: the API reached with the session cookie (and its CSRF token on
// writes), who is signed in, small DOM helpers. No framework, nothing from elsewhere.
(function () {
  var root = location.pathname.replace(/\/maps\/[^/]*$/, "");
  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function api(path, options) {
    options = options || {};
    var headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    if (options.body !== undefined && typeof options.body !== "string") {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.body);
    }
    if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = cookie("wangge_csrf") || "";
    return fetch(root + path, Object.assign({}, options, {headers: headers, credentials: "same-origin"}))
      .then(function (r) {
        if (r.status === 401) {  // the session ended: sign in again and come back here
          location.href = root + "/login?next=" + encodeURIComponent(location.pathname.slice(root.length) + location.search);
        }
        return r.json().then(function (body) { return {ok: r.ok, status: r.status, body: body}; },
                             function () { return {ok: r.ok, status: r.status, body: null}; });
      });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  // wangge's day and clock are China Standard Time (UTC+8, no summer time), whatever the
  // browser's own time zone: a day starts at 00:00 in Beijing, times read as the command hall's
  var CST_MS = 8 * 3600 * 1000;
  function chinaDay(ms) { return new Date((ms === undefined ? Date.now() : ms) + CST_MS).toISOString().slice(0, 10); }
  function chinaTime(day, hhmm) { return new Date(day + "T" + hhmm + ":00+08:00"); }
  function chinaMidnight() { return chinaTime(chinaDay(), "00:00"); }
  function clock(ms) { return new Date(ms + CST_MS).toISOString().slice(11, 19); }
  // GCJ-02, as gis/crs.py computes it (the published formula; no offset outside China): when the
  // base map is drawn in GCJ-02, every overlay wangge draws from its own coordinates is shifted
  // into it (toMap), and a click on the map is sent as gcj02 (mapCrs), which the API converts back.
  var A = 6378245.0, EE = 0.00669342162296594323, PI = Math.PI;
  function gcj02(lng, lat) {
    if (lng < 72.004 || lng > 137.8347 || lat < 0.8293 || lat > 55.8271) return [lng, lat];
    var x = lng - 105.0, y = lat - 35.0, sx = Math.sqrt(Math.abs(x));
    var dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx;
    var dLng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx;
    var common = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dLat += common + (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dLat += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    dLng += common + (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dLng += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radLat = lat / 180.0 * PI, magic = 1.0 - EE * Math.sin(radLat) * Math.sin(radLat), sq = Math.sqrt(magic);
    dLat = dLat * 180.0 / ((A * (1.0 - EE)) / (magic * sq) * PI);
    dLng = dLng * 180.0 / (A / sq * Math.cos(radLat) * PI);
    return [lng + dLng, lat + dLat];
  }
  var shifted = false;
  function toMap(lat, lng) { if (!shifted) return [lat, lng]; var g = gcj02(lng, lat); return [g[1], g[0]]; }
  function coordsToLatLng(c) { var p = toMap(c[1], c[0]); return L.latLng(p[0], p[1]); }
  window.wangge = {root: root, api: api, cookie: cookie, el: el, chinaDay: chinaDay, chinaTime: chinaTime,
                   chinaMidnight: chinaMidnight, clock: clock, gcj02: gcj02, toMap: toMap,
                   coordsToLatLng: coordsToLatLng, mapCrs: "EPSG:4490",
                   setOffset: function (map, options) {
                     shifted = options.offset === "gcj02";
                     window.wangge.mapCrs = shifted ? "gcj02" : "EPSG:4490";
                   },
                   gridLabels: gridLabels, whyText: whyText};
  // a case's (or a lookup's) why, in Chinese from its structured fields (the API's message is English)
  var ROLE = {owner: "权属单位", manager: "管理单位", maintainer: "养护单位"};
  function whyText(why) {
    if (!why || !why.decided_by) return "—";
    switch (why.decided_by) {
      case "rule": return "派遣规则 #" + why.rule_id + "：" + why["class"] + " 类事件在 " + why.area + " 范围内由该规则指定的单位处置";
      case "fallback": return "无派遣规则或部件：属地兜底，由 " + why.area + " 的" + (String(why.area).length > 6 ? "街道（镇）" : "区（县）") + "政府负责";
      case "component": return "部件 " + why.component + " 的" + (ROLE[why.role] || why.role) + "负责";
      default: return why.queue === "unassigned" ? "该点不在任何网格内，未找到责任单位（进入待分派队列）" : "未找到该地点、该类别的责任单位";
    }
  }
  // the unit grids' names, written at their label points from zoom 16 (what is in view, asked
  // again when the view moves; the box is widened by the GCJ-02 offset's size, about 700 m)
  function gridLabels(map, options) {
    var layer = L.layerGroup().addTo(map), from = (options && options.zoom) || 16, asked = 0;
    function draw() {
      if (map.getZoom() < from) { asked++; layer.clearLayers(); document.body.setAttribute("data-labels", "0"); return; }
      var b = map.getBounds(), pad = shifted ? 0.01 : 0, n = ++asked;
      var bbox = [b.getWest() - pad, b.getSouth() - pad, b.getEast() + pad, b.getNorth() + pad].join(",");
      api("/api/v1/grid-labels?level=unit_grid&bbox=" + bbox).then(function (r) {
        if (n !== asked || !r.ok) return;  // a later view asked meanwhile
        layer.clearLayers();
        r.body.forEach(function (g) {
          L.marker(coordsToLatLng([g.lon, g.lat]), {interactive: false, keyboard: false,
            icon: L.divIcon({className: "wg-grid-label", html: "", iconSize: null})})
            .addTo(layer).getElement().appendChild(el("span", {text: g.name || g.code}));
        });
        document.body.setAttribute("data-labels", String(r.body.length));
      });
    }
    map.on("moveend", draw);
    draw();
  }
})();
