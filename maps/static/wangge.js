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
  window.wangge = {root: root, api: api, cookie: cookie, el: el};
})();
