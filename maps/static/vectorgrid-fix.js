// Leaflet.VectorGrid 1.3.0 (the last npm release) calls L.DomEvent.fakeStop on a click, which
// Leaflet 1.8 removed: every click on an interactive canvas tile throws. The fix was merged
// upstream (Leaflet/Leaflet.VectorGrid#288, L.DomEvent.stop instead) but never released; this
// carries it until a release does.
(function () {
  function patch() {
    if (!window.L || !L.Canvas || !L.Canvas.Tile || L.Canvas.Tile.prototype._wanggeFixed) return;
    L.Canvas.Tile.include({
      _wanggeFixed: true,
      _onClick: function (e) {
        var point = this._map.mouseEventToLayerPoint(e).subtract(this.getOffset()), layer, clicked;
        for (var id in this._layers) {
          layer = this._layers[id];
          if (layer.options.interactive && layer._containsPoint(point) && !this._map._draggableMoved(layer)) {
            clicked = layer;
          }
        }
        if (clicked) {
          L.DomEvent.stop(e);
          this._fireEvent([clicked], e);
        }
      }
    });
  }
  patch();
  document.addEventListener("DOMContentLoaded", patch);
})();
