/* The provenance graph of a claim: Cytoscape.js with the dagre layout (vendored).
   Reads the elements from the json_script #cairn-graph-data; colours are named
   by audit.admin_views.batch_node. Text from the ledger is set with textContent. */
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
  // Node size from the label (about 5.6 px per character at 10 px, wrapped at 150 px).
  var CHAR = 5.6, WRAP = 150;
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
          "text-max-width": "150px",
          "text-valign": "center",
          "text-halign": "center",
          "font-size": "10px",
          "width": labelWidth,
          "height": function (node) { return labelLines(node) * 13 + 14; },
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
          "font-size": "8px",
          "color": "#607d8b",
          "text-background-color": "#fff",
          "text-background-opacity": 1
        }
      }
    ],
    layout: { name: "dagre", rankDir: "LR", nodeSep: 10, rankSep: 36, edgeSep: 6, fit: true, padding: 10 }
  });
  window.cairnGraph = cy;
  // The admin's sidebar can change the container's width after this runs.
  if (typeof ResizeObserver !== "undefined") {
    new ResizeObserver(function () { cy.resize(); cy.fit(undefined, 10); }).observe(container);
  }

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
