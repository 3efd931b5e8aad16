/* geopublish pages: maps drawn with Leaflet over the service's own boundary layers and relief
   (no tile server, no internet), and the API page's list of operations.
   Every value comes from JSON in an HTML-escaped data- attribute, is read with JSON.parse and
   reaches the page only as text (textContent) or as a URL built from encoded parts: nothing a
   producer wrote is ever parsed as HTML or run as code. */
(function () {
  "use strict";

  var FEATURE = { color: "#c2185b", weight: 3, opacity: 0.9, fillColor: "#c2185b", fillOpacity: 0.35 };
  var POINT = { radius: 6, color: "#ffffff", weight: 1.5, fillColor: "#c2185b", fillOpacity: 1 };
  var BACKGROUND = { color: "#7a8794", weight: 1, opacity: 0.9, fillColor: "#dde3e8", fillOpacity: 1 };
  var EXTENT = { color: "#1565c0", weight: 2, fill: false, dashArray: "6 4" };

  function segment(value) {
    return encodeURIComponent(String(value));
  }

  function itemUrl(spec, id) {
    return spec.root + "/collections/" + segment(spec.collection) + "/items/" + segment(id) + "?f=html";
  }

  function popup(spec, feature) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    var props = feature.properties || {};
    var label = spec.titleField && props[spec.titleField] != null ? props[spec.titleField] : feature.id;
    link.textContent = String(label);
    link.href = itemUrl(spec, feature.id);
    box.appendChild(link);
    return box;
  }

  function background(spec) {
    var requests = (spec.background || []).map(function (cid) {
      var url = spec.root + "/collections/" + segment(cid) + "/items?f=json&limit=1000";
      return fetch(url, { headers: { Accept: "application/geo+json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .catch(function () { return null; });
    });
    return Promise.all(requests);
  }

  function relief(spec, map) {
    var requests = (spec.relief || []).map(function (cid) {
      var url = spec.root + "/backgrounds/" + segment(cid);
      return fetch(url)
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (info) {
          if (!info) { return; }
          var b = info.bbox;
          var image = new URL(String(info.image), new URL(url, window.location.href)).href;
          var bounds = [[b[1], b[0]], [b[3], b[2]]];
          var overlay = L.imageOverlay(image, bounds, { pane: "gp-relief", opacity: 0.55, interactive: false });
          return new Promise(function (resolve) {
            overlay.on("load error", resolve);
            overlay.addTo(map);
          });
        })
        .catch(function () { return null; });
    });
    return Promise.all(requests);
  }

  function drawMap(el) {
    var spec = JSON.parse(el.getAttribute("data-map"));
    var map = L.map(el, { zoomSnap: 0.25, maxZoom: 19 });
    // Boundaries at the bottom, the relief over their fill, the features above both.
    map.createPane("gp-boundaries").style.zIndex = 300;
    map.createPane("gp-relief").style.zIndex = 350;
    map.attributionControl.setPrefix("Leaflet");
    if (spec.attribution) {
      map.attributionControl.addAttribution(String(spec.attribution).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }));
    }
    var back = L.featureGroup().addTo(map);
    var front = L.featureGroup().addTo(map);
    var bounds = null;

    if (spec.features && spec.features.length) {
      var layer = L.geoJSON(spec.features, {
        style: function () { return FEATURE; },
        pointToLayer: function (f, latlng) { return L.circleMarker(latlng, POINT); },
        onEachFeature: function (f, l) {
          if (spec.kind === "items" && f.id != null) { l.bindPopup(popup(spec, f)); }
        }
      });
      layer.addTo(front);
      if (layer.getLayers().length) { bounds = layer.getBounds(); }
    }
    if (spec.extent && spec.extent.length >= 4) {
      var e = spec.extent.length >= 6 ? [spec.extent[0], spec.extent[1], spec.extent[3], spec.extent[4]] : spec.extent;
      var box = L.rectangle([[e[1], e[0]], [e[3], e[2]]], EXTENT).addTo(front);
      bounds = bounds || box.getBounds();
    }
    if (bounds) { map.fitBounds(bounds, { maxZoom: 14, padding: [12, 12] }); }

    Promise.all([background(spec), relief(spec, map)]).then(function (loaded) {
      var collections = loaded[0];
      collections.forEach(function (fc) {
        if (fc && fc.features) {
          L.geoJSON(fc, { pane: "gp-boundaries", style: function () { return BACKGROUND; }, interactive: false }).addTo(back);
        }
      });
      if (!bounds && back.getLayers().length) { map.fitBounds(back.getBounds()); }
      if (!bounds && !back.getLayers().length) { map.setView([0, 0], 1); }
      el.setAttribute("data-state", "ready");
    });
  }

  function listOperations(el) {
    fetch(el.getAttribute("data-document"))
      .then(function (r) { return r.json(); })
      .then(function (doc) {
        var list = document.createElement("dl");
        Object.keys(doc.paths || {}).sort().forEach(function (path) {
          Object.keys(doc.paths[path]).forEach(function (method) {
            var op = doc.paths[path][method];
            if (!op || typeof op !== "object" || !op.responses) { return; }
            var dt = document.createElement("dt");
            dt.className = "gp-openapi-path";
            dt.textContent = method.toUpperCase() + " " + path;
            var dd = document.createElement("dd");
            dd.textContent = op.summary || op.description || "";
            list.appendChild(dt);
            list.appendChild(dd);
          });
        });
        el.replaceChildren(list);
        el.setAttribute("data-state", "ready");
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var map = document.getElementById("gp-map");
    if (map && window.L) { drawMap(map); }
    var api = document.getElementById("gp-openapi");
    if (api) { listOperations(api); }
  });
})();
