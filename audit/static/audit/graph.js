/* The provenance graph of a claim: Cytoscape.js with the dagre layout (vendored).
   Reads the elements from the json_script #cairn-graph-data; colours are named
   by audit.admin_views.batch_node. Text from the ledger is set with textContent.

   Readable at any size: mines at the top, the vehicle at the bottom; the graph
   is fitted to the container's width but never drawn below MIN_ZOOM (labels
   stay at 10 px or more on screen); the container grows with the graph up to
   MAX_HEIGHT, and what does not fit is reached by panning (drag), zooming
   (wheel, or the buttons above the graph). */
(function () {
  "use strict";
  var source = document.getElementById("cairn-graph-data");
  var container = document.getElementById("cairn-graph");
  if (!source || !container || typeof cytoscape === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var fill = {
    "qualifying": "#2e7d32",
    "non-qualifying": "#f0a202",
    "feoc": "#c62828",
    "component": "#bdbdbd",
    "vehicle": "#37474f"
  };
  var darkText = { "component": true, "non-qualifying": true };
  // Node size from the label (about 7.3 px per character at 13 px, wrapped at 190 px).
  var FONT = 13, EDGE_FONT = 12, CHAR = 7.3, WRAP = 190, LINE = 17;
  // Zoom limits: at MIN_ZOOM a node label is 13 × 0.8 ≈ 10.4 px and an edge label 9.6 px.
  var MIN_ZOOM = 0.8, MAX_ZOOM = 2.5, FIT_MAX_ZOOM = 1.2, PADDING = 16, MIN_HEIGHT = 320, MAX_HEIGHT = 900;
  function labelLines(node) {
    return node.data("label").split("\n").reduce(function (count, text) {
      return count + Math.max(1, Math.ceil(text.length * CHAR / WRAP));
    }, 0);
  }
  function labelWidth(node) {
    var longest = Math.max.apply(null, node.data("label").split("\n").map(function (text) { return text.length; }));
    return Math.min(longest * CHAR, WRAP) + 16;
  }

  var cy = cytoscape({
    container: container,
    elements: data.nodes.concat(data.edges),
    style: [
      {
        selector: "node",
        style: {
          "shape": "round-rectangle",
          "label": "data(label)",
          "text-wrap": "wrap",
          "text-max-width": WRAP + "px",
          "text-valign": "center",
          "text-halign": "center",
          "font-size": FONT + "px",
          "line-height": 1.25,
          "width": labelWidth,
          "height": function (node) { return labelLines(node) * LINE + 16; },
          "background-color": function (node) { return fill[node.data("colour")] || "#999"; },
          "color": function (node) { return darkText[node.data("colour")] ? "#111" : "#fff"; },
          "border-width": 0
        }
      },
      {
        selector: "node[colour = 'component'], node[colour = 'vehicle']",
        style: {
          "border-width": 3,
          "border-color": "#1565c0",
          "border-style": function (node) { return node.data("north_america") ? "solid" : "dashed"; }
        }
      },
      { selector: "node:selected", style: { "overlay-color": "#1565c0", "overlay-opacity": 0.25 } },
      {
        selector: "edge",
        style: {
          "width": 1.5,
          "curve-style": "bezier",
          "line-color": "#90a4ae",
          "target-arrow-color": "#90a4ae",
          "target-arrow-shape": "triangle",
          "label": "data(label)",
          "font-size": EDGE_FONT + "px",
          "color": "#607d8b",
          "text-background-color": "#fff",
          "text-background-opacity": 1
        }
      }
    ],
    minZoom: MIN_ZOOM,
    maxZoom: MAX_ZOOM,
    // The wheel is handled below: Cytoscape ignores it while the page scrolls,
    // and a wheel that reaches the graph in the middle of a page scroll did nothing.
    userZoomingEnabled: false,
    layout: { name: "dagre", rankDir: "TB", nodeSep: 14, rankSep: 40, edgeSep: 8, fit: false }
  });
  window.cairnGraph = cy;

  // Fit by width within [MIN_ZOOM, FIT_MAX_ZOOM]; the container as tall as the graph needs.
  function fitWidth() {
    var box = cy.elements().boundingBox();
    var width = container.clientWidth;
    var zoom = Math.max(MIN_ZOOM, Math.min(FIT_MAX_ZOOM, (width - 2 * PADDING) / Math.max(box.w, 1)));
    var height = Math.max(MIN_HEIGHT, Math.min(MAX_HEIGHT, box.h * zoom + 2 * PADDING));
    if (Math.abs(container.clientHeight - height) > 1) {
      container.style.height = height + "px";
      cy.resize();
    }
    cy.zoom(zoom);
    // Centred across when it fits, its left edge at the padding when it does not; the top at the padding.
    var x = box.w * zoom + 2 * PADDING <= width ? (width - box.w * zoom) / 2 : PADDING;
    cy.pan({ x: x - box.x1 * zoom, y: PADDING - box.y1 * zoom });
  }
  var lastWidth = 0;
  function refit() {
    if (container.clientWidth !== lastWidth) {
      lastWidth = container.clientWidth;
      cy.resize();
      fitWidth();
    }
  }
  refit();
  // The admin's sidebar can change the container's width after this runs: refit on width changes only.
  if (typeof ResizeObserver !== "undefined") {
    new ResizeObserver(refit).observe(container);
  }

  // For print: the whole graph as an image that scales to the sheet (the
  // canvas keeps its screen size, which a printed page may not have).
  var printImage = document.getElementById("cairn-graph-print");
  if (printImage) {
    printImage.src = cy.png({ full: true, scale: 1.5, bg: "#ffffff" });
  }

  function zoomBy(factor) {
    var centre = { x: container.clientWidth / 2, y: container.clientHeight / 2 };
    cy.zoom({ level: Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, cy.zoom() * factor)), renderedPosition: centre });
  }
  // The wheel over the graph zooms it, around the pointer (and does not scroll the page).
  container.addEventListener("wheel", function (event) {
    event.preventDefault();
    var rect = container.getBoundingClientRect();
    var delta = event.deltaY * (event.deltaMode === 1 ? 33 : 1);
    var level = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, cy.zoom() * Math.pow(1.0015, -delta)));
    cy.zoom({ level: level, renderedPosition: { x: event.clientX - rect.left, y: event.clientY - rect.top } });
  }, { passive: false });

  var controls = {
    "cairn-graph-zoom-in": function () { zoomBy(1.25); },
    "cairn-graph-zoom-out": function () { zoomBy(0.8); },
    "cairn-graph-fit": function () { lastWidth = 0; refit(); }
  };
  Object.keys(controls).forEach(function (id) {
    var button = document.getElementById(id);
    if (button) { button.addEventListener("click", controls[id]); }
  });

  var details = document.getElementById("cairn-graph-details");

  function element(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }

  function line(list, label, value) {
    var item = element("li");
    item.appendChild(element("strong", label + ": "));
    if (value instanceof Node) { item.appendChild(value); } else { item.appendChild(document.createTextNode(value)); }
    list.appendChild(item);
  }

  function show(node) {
    details.replaceChildren();
    details.appendChild(element("h3", node.id));
    var list = element("ul");
    if (node.material) { line(list, "material", node.material + " (" + node.quantity + ")"); }
    if (node.activity) { line(list, "made by", node.activity + " by " + node.issuer + " in " + node.country + " on " + node.occurred_on); }
    if (node.component) { line(list, "component", node.component + (node.north_america ? " (North America)" : " (outside North America)")); }
    Object.keys(node.minerals || {}).forEach(function (mineral) {
      var found = node.minerals[mineral];
      var why = found.qualifies ? (found.agreements.length ? "qualifies via " + found.agreements.join(", ") : "qualifies (" + found.reason + ")") : "does not qualify";
      line(list, mineral, why);
    });
    if (node.feoc && node.feoc.length) { line(list, "FEOC", node.feoc.join("; ")); }
    if (node.entry_url) { line(list, "entry", element("a", "#" + node.entry, { href: node.entry_url })); }
    if (node.batch_url) { line(list, "batch", element("a", "open the batch", { href: node.batch_url })); }
    details.appendChild(list);
  }

  cy.on("tap", "node", function (event) { show(event.target.data()); });
})();
