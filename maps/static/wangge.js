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
  window.wangge = {root: root, api: api, cookie: cookie, el: el, chinaDay: chinaDay, chinaTime: chinaTime,
                   chinaMidnight: chinaMidnight, clock: clock};
})();
