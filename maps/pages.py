"""The map pages, built with folium: a map of the caller's area with the grid tiles, wangge's own
small scripts (``maps/static``) for what no folium plugin does, and the page's panel.

Each builder returns the page's HTML; ``api/maps.py`` serves it to a signed-in user with a
Content-Security-Policy that allows only wangge and the configured base map.
"""

from __future__ import annotations

import json

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import VectorGridProtobuf
from jinja2 import Template
from markupsafe import escape

from gis.settings import Settings
from maps import assets, basemap

assets.install()

#: the pages, in the order of the bar: path, title
PAGES = (
    ("live", "指挥大屏"),
    ("heat", "案件热力"),
    ("hotspots", "热点分析"),
    ("playback", "轨迹回放"),
    ("lookup", "谁负责这里"),
    ("editor", "网格编辑"),
)

#: the grid levels drawn on every map: tile collection, label, style
GRID_LAYERS = (
    ("grids-district", "区/县", {"weight": 2.5, "color": "#17324d", "fill": False}),
    ("grids-street", "街道/镇", {"weight": 1.8, "color": "#2a6f97", "fill": False}),
    ("grids-community", "社区/村", {"weight": 1.2, "color": "#5c9ead", "fill": False, "dashArray": "4 3"}),
    ("grids-unit", "单元网格", {"weight": 0.8, "color": "#1f6feb", "fill": True, "fillOpacity": 0.04}),
)


class Plugin(JSCSSMixin, MacroElement):
    """Loads a Leaflet plugin's files (after Leaflet's, as folium orders them) and nothing else: the
    page's own script makes the layers."""

    _template = Template("")

    def __init__(self, js: list[tuple[str, str]], css: list[tuple[str, str]] = ()):
        super().__init__()
        self.default_js, self.default_css = list(js), list(css)


def marker_cluster() -> Plugin:
    return Plugin(
        [("markerclusterjs", f"{assets.VENDOR_URL}/{assets.LOCAL['markerclusterjs']}")],
        [(n, f"{assets.VENDOR_URL}/{assets.LOCAL[n]}") for n in ("markerclustercss", "markerclusterdefaultcss")],
    )


class PageScript(MacroElement):
    """Calls ``wangge.<function>(map, options)`` once the map exists."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "wangge.{{ this.function }}({{ this._parent.get_name() }}, {{ this.options }});"
        "{% endmacro %}"
    )

    def __init__(self, function: str, options: dict | None = None):
        super().__init__()
        # inside a <script>: no "<", ">" or "&" may close it or open a comment, whatever a value holds
        text = json.dumps(options or {}, ensure_ascii=False)
        self.function = function
        self.options = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def base(settings: Settings, bounds: tuple[float, float, float, float]) -> folium.Map:
    """A map of ``bounds`` (west, south, east, north) with the base map and the grid tiles."""
    m = folium.Map(location=None, tiles=None, control_scale=True, prefer_canvas=True, zoom_snap=0.5)
    basemap.add_basemap(m, settings)
    PageScript("setOffset", {"offset": settings.basemap_offset}).add_to(m)
    shift = "?offset=gcj02" if settings.basemap_offset == "gcj02" else ""
    for collection, label, style in GRID_LAYERS:
        options = (
            "{rendererFactory: L.canvas.tile, interactive: false, maxNativeZoom: 20,"
            f" vectorTileLayerStyles: {{{json.dumps(collection)}: {json.dumps(style)}}}}}"
        )
        VectorGridProtobuf(f"../tiles/{collection}/{{z}}/{{x}}/{{y}}.pbf{shift}", label, options).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    PageScript("gridLabels", {"zoom": 16}).add_to(m)
    west, south, east, north = bounds
    m.fit_bounds([[south, west], [north, east]])
    return m


def _shell(m: folium.Map, page: str, who: str, panel: str, scripts: tuple[str, ...]) -> str:
    root = m.get_root()
    root.header.add_child(folium.CssLink(f"{assets.OWN_URL}/wangge.css"))
    for name in ("wangge.js", "vectorgrid-fix.js", *scripts):
        root.header.add_child(folium.JavascriptLink(f"{assets.OWN_URL}/{name}"))
    links = "".join(f'<a href="{p}"{" class=wg-here" if p == page else ""}>{escape(title)}</a>' for p, title in PAGES)
    bar = (
        f'<nav class="wg-bar"><a href="../">wangge 网格</a>{links}'
        f'<span class="wg-who" id="wg-who">{escape(who)}</span>'
        '<a href="../login" id="wg-switch">切换账号</a></nav>'
    )
    root.html.add_child(folium.Element(bar + panel))
    root.title = f"{dict(PAGES)[page]} · wangge 网格"
    return root.render()


def lookup_page(settings: Settings, bounds: tuple[float, float, float, float], who: str) -> str:
    """谁负责这里: click or paste a point; the panel shows who is responsible for it."""
    m = base(settings, bounds)
    PageScript("lookupPage").add_to(m)
    panel = """<aside class="wg-panel" id="wg-panel"><h2>谁负责这里</h2>
<p class="wg-muted">点击地图，或输入坐标（手机上的高德/腾讯坐标选 GCJ-02）：</p>
<form class="wg-form" id="wg-form"><input id="wg-coords" placeholder="经度,纬度 例如 110.33,20.03" autocomplete="off">
<select id="wg-crs"><option value="EPSG:4490">CGCS2000</option><option value="EPSG:4326">WGS 84</option>
<option value="gcj02">GCJ-02</option><option value="bd09">BD-09</option></select><button type="submit">查询</button></form>
<div id="wg-result" class="wg-result"></div></aside>"""
    return _shell(m, "lookup", who, panel, ("lookup.js",))


def live_page(settings: Settings, bounds: tuple[float, float, float, float], who: str, options: dict) -> str:
    """指挥大屏: gridworkers and open cases, refreshed every few seconds; ``options``: the poll
    interval and the workflow's actions (which states each may start from, which are a handling
    unit's), so the panel offers only what may be done."""
    m = base(settings, bounds)
    marker_cluster().add_to(m)  # live.js makes its own cluster group
    PageScript("livePage", options).add_to(m)
    legend = "".join(
        f'<span class="wg-dot" style="background:{colour}"></span>{escape(label)} '
        for colour, label in (
            ("#2b8a3e", "在岗·本网格"), ("#e8590c", "在岗·出网格"), ("#74c0fc", "不在岗"), ("#adb5bd", "10分钟无定位"),
            ("#1c7ed6", "已派遣"), ("#7048e8", "处置中"), ("#f59f00", "待立案"), ("#e03131", "超期"),
        )
    )  # fmt: skip
    panel = f"""<aside class="wg-panel" id="wg-panel">
<h2>指挥大屏 <button type="button" id="wg-full" class="wg-small">全屏</button></h2>
<div class="wg-counts">
<div><b id="wg-open">–</b><span>在办工单</span></div><div><b id="wg-overdue" class="wg-red">–</b><span>超期</span></div>
<div><b id="wg-today">–</b><span>今日新增</span></div><div><b id="wg-duty">–</b><span>在岗网格员</span></div>
<div><b id="wg-outside" class="wg-orange">–</b><span>不在本网格</span></div><div><b id="wg-stale">–</b><span>无定位</span></div>
</div>
<p class="wg-legend">{legend}</p>
<p class="wg-warn" id="wg-truncated" hidden>在办工单过多，地图只显示最新的 20,000 件；请缩小区域或用热力图。</p>
<h3>最新工单</h3><ol class="wg-ticker" id="wg-ticker"></ol>
<div id="wg-detail" class="wg-detail"><p class="wg-muted">点击网格员查看今日轨迹，点击工单查看详情并办理。</p></div>
</aside>"""
    return _shell(m, "live", who, panel, ("live.js",))


def playback_page(settings: Settings, bounds: tuple[float, float, float, float], who: str, options: dict) -> str:
    """轨迹回放: the tracks of the workers chosen (``options["workers"]``) on ``options["day"]``."""
    m = base(settings, bounds)
    PageScript("playbackPage", options).add_to(m)
    speeds = "".join(f'<option value="{v}"{" selected" if v == 10 else ""}>{v}×</option>' for v in (1, 5, 10, 30, 60))
    panel = f"""<aside class="wg-panel" id="wg-panel"><h2>轨迹回放</h2>
<div class="wg-workers" id="wg-workers"></div>
<div class="wg-form"><input type="date" id="wg-day" value="{escape(options["day"])}">
<input type="time" id="wg-from" value="00:00"><input type="time" id="wg-to" value="23:59">
<button type="button" id="wg-load">载入</button></div>
<div class="wg-player"><button type="button" id="wg-play">播放</button>
<select id="wg-speed" title="倍速">{speeds}</select>
<label><input type="checkbox" id="wg-follow" checked> 跟随</label><b id="wg-clock">--:--:--</b></div>
<input type="range" id="wg-slider" class="wg-slider" min="0" max="0" value="0">
<div id="wg-figures"><p class="wg-muted">选择网格员和日期，然后载入。</p></div></aside>"""
    return _shell(m, "playback", who, panel, ("playback.js",))


def heat_page(
    settings: Settings, bounds: tuple[float, float, float, float], who: str, breaks: list[int] | None = None
) -> str:
    """案件热力: counts per grid with a fixed scale (``breaks``: the case counts' classes, for the
    case points drawn over the grids), seasons, 同比/环比, a grid's charts."""
    m = base(settings, bounds)
    Plugin([("echarts", f"{assets.VENDOR_URL}/{assets.LOCAL['echarts']}")]).add_to(m)
    shift = "?offset=gcj02" if settings.basemap_offset == "gcj02" else ""
    PageScript("heatPage", {"shift": shift, "breaks": list(breaks or [])}).add_to(m)
    panel = """<aside class="wg-panel" id="wg-panel"><h2>案件热力</h2>
<form class="wg-filters" id="wg-heat">
<label>层级 <select name="level"><option value="district">区/县</option><option value="street" selected>街道/镇</option>
<option value="community">社区/村</option><option value="unit_grid">单元网格</option></select></label>
<label>起 <input type="date" name="from"></label><label>止 <input type="date" name="to"></label>
<label>季节 <select name="season"><option value="all">全年</option><option value="spring">春（3-5月）</option>
<option value="summer">夏（6-8月）</option><option value="autumn">秋（9-11月）</option><option value="winter">冬（12-2月）</option></select></label>
<label>类别 <select name="class"><option value="">全部</option></select></label>
<label>渠道 <select name="channel"><option value="">全部</option><option value="hotline">12345热线</option><option value="app">APP</option>
<option value="wechat">微信</option><option value="patrol">巡查上报</option><option value="video">视频</option><option value="other">其他</option></select></label>
<label>状态 <select name="state"><option value="">全部</option><option value="open">在办</option><option value="closed">已结案</option></select></label>
<label>区域 <input name="region" placeholder="网格代码，可空" pattern="[0-9]{6}([0-9]{3}){0,3}"></label>
<label>对比 <select name="compare"><option value="">不对比</option><option value="yoy">同比（去年同期）</option><option value="prev">环比（上一期）</option></select></label>
<label><input type="checkbox" name="cells"> 叠加案件点（各网格计数，同一刻度）</label>
<button type="submit">统计</button></form>
<p id="wg-heat-status" class="wg-muted"></p>
<p class="wg-legend" id="wg-legend"></p>
<p class="wg-muted">颜色按固定分级：同一数量在任何时段、季节、区域都是同一颜色。点击网格查看逐月数量和主要类别。</p>
<h3 id="wg-grid-title"></h3><div id="wg-chart" style="height:370px"></div></aside>"""
    return _shell(m, "heat", who, panel, ("heat.js",))


def hotspots_page(settings: Settings, bounds: tuple[float, float, float, float], who: str) -> str:
    """热点分析: Getis-Ord Gi* bins in ArcGIS's colours, seasons, class, FDR; a grid's months."""
    m = base(settings, bounds)
    Plugin([("echarts", f"{assets.VENDOR_URL}/{assets.LOCAL['echarts']}")]).add_to(m)
    shift = "?offset=gcj02" if settings.basemap_offset == "gcj02" else ""
    PageScript("hotspotsPage", {"shift": shift}).add_to(m)
    years = "".join(f'<option value="{y}">{y}</option>' for y in range(2026, 2015, -1))
    panel = f"""<aside class="wg-panel" id="wg-panel"><h2>热点分析（Gi*）</h2>
<form class="wg-filters" id="wg-hot">
<label>分析 <select name="mode"><option value="hotspots">热点（Gi*）</option><option value="emerging">时空模式（近三年/八个同季）</option></select></label>
<label>层级 <select name="level"><option value="unit_grid" selected>单元网格</option><option value="community">社区/村</option>
<option value="street">街道/镇</option></select></label>
<label>季节 <select name="season"><option value="">全年</option><option value="spring">春</option><option value="summer">夏</option>
<option value="autumn">秋</option><option value="winter">冬（上年12月至2月）</option></select></label>
<label>年份 <select name="year">{years}</select></label>
<label>类别 <input name="class" placeholder="如 0100、0102" pattern="[0-9]{{4}}"></label>
<label>区域 <input name="region" placeholder="网格代码，可空" pattern="[0-9]{{6}}([0-9]{{3}}){{0,3}}"></label>
<label><input type="checkbox" name="fdr" checked> FDR 校正</label>
<button type="submit">分析</button></form>
<p id="wg-hot-status" class="wg-muted"></p>
<p><a id="wg-hot-report" target="_blank" href="#">打印报告（A4）</a></p>
<p id="wg-hot-export" class="wg-muted"></p>
<p class="wg-legend" id="wg-hot-legend"></p>
<p class="wg-muted">Getis-Ord Gi*：与周边网格（共边或共点）一起显著偏高为热点、偏低为冷点；置信度 99/95/90%。点击网格查看逐月数量。</p>
<h3 id="wg-hot-title"></h3><div id="wg-hot-chart" style="height:260px"></div></aside>"""
    return _shell(m, "hotspots", who, panel, ("hotspots.js",))


def editor_page(settings: Settings, bounds: tuple[float, float, float, float], who: str) -> str:
    """网格编辑: a grid admin's boundary editor over the versioned redraw."""
    m = base(settings, bounds)
    Plugin(
        [("leaflet_geoman_js", f"{assets.VENDOR_URL}/{assets.LOCAL['leaflet_geoman_js']}")],
        [("leaflet_geoman_css", f"{assets.VENDOR_URL}/{assets.LOCAL['leaflet_geoman_css']}")],
    ).add_to(m)
    PageScript("editorPage").add_to(m)
    panel = """<aside class="wg-panel" id="wg-panel"><h2>网格编辑</h2>
<p class="wg-muted">点击地图选中该处的单元网格，或输入任一级网格代码：</p>
<form class="wg-form" id="wg-pick"><input id="wg-code" placeholder="网格代码" pattern="[0-9]{6}([0-9]{3}){0,3}">
<button type="submit">载入</button></form>
<h3 id="wg-title"></h3>
<div class="wg-form"><button type="button" id="wg-check">检查（试运行）</button><button type="button" id="wg-save">保存为新版本</button></div>
<div id="wg-follow"></div>
<div class="wg-form"><button type="button" id="wg-split" title="画一条穿过网格的线">拆分</button>
<button type="button" id="wg-merge" title="点击相邻网格并入">合并</button>
<button type="button" id="wg-new" title="画出新网格">新建网格</button>
<button type="button" id="wg-confirm" hidden>确认</button><button type="button" id="wg-cancel" hidden>取消</button></div>
<div id="wg-report" class="wg-report"></div>
<h3>版本</h3><ol id="wg-history" class="wg-history" title="点击查看该版本边界"></ol>
<label class="wg-muted">查看某日边界 <input type="date" id="wg-asof"></label> <span id="wg-asof-note" class="wg-muted"></span></aside>"""
    return _shell(m, "editor", who, panel, ("editor.js",))
