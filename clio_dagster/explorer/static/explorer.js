/* Clio explorer. Inlined into every page at build time; reads only the JSON block of its own page and
 * makes no network request. Data values are always inserted with textContent, never as HTML. */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("clio-data").textContent);
  var SVG_NS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function fmtInt(n) { return Number(n).toLocaleString("en-US"); }
  function fmtPct(x, digits) { return (100 * x).toFixed(digits === undefined ? 1 : digits) + "%"; }

  if (DATA.kind === "index" || DATA.kind === "comparison") { initIndex(); return; }

  /* ------------------------------------------------------------------ data model */
  var clusters = DATA.clusters;
  var byId = {};
  var children = {};
  var roots = [];
  clusters.forEach(function (c) { byId[c.cluster_id] = c; children[c.cluster_id] = []; });
  clusters.forEach(function (c) {
    if (c.parent_id !== null && byId[c.parent_id]) children[c.parent_id].push(c);
    else roots.push(c);
  });
  function parentOf(c) { return c.parent_id !== null && byId[c.parent_id] ? byId[c.parent_id] : null; }
  function ancestors(c) { var out = []; var p = parentOf(c); while (p) { out.push(p); p = parentOf(p); } return out; }
  function descendants(c) {
    var out = [];
    (function walk(n) { children[n.cluster_id].forEach(function (k) { out.push(k); walk(k); }); })(c);
    return out;
  }

  var facetsOf = {}; // cluster_id -> {language: {value: n}, turns: {value: n}}
  DATA.facets.forEach(function (f) {
    var entry = facetsOf[f.cluster_id] || (facetsOf[f.cluster_id] = {});
    (entry[f.facet] || (entry[f.facet] = {}))[f.value] = f.conversations;
  });
  function facetShare(c, facet, value) {
    var counts = (facetsOf[c.cluster_id] || {})[facet];
    if (!counts) return 0;
    var total = 0; Object.keys(counts).forEach(function (k) { total += counts[k]; });
    return total ? (counts[value] || 0) / total : 0;
  }
  var levels = Array.from(new Set(clusters.map(function (c) { return c.level; }))).sort(function (a, b) { return a - b; });
  var baseLevel = levels.length ? levels[0] : 0;

  // Partition-wide language shares, from the level-0 (base) clusters' facets.
  var partitionLanguage = {};
  (function () {
    var total = 0;
    DATA.facets.forEach(function (f) {
      var c = byId[f.cluster_id];
      if (f.facet === "language" && c && c.level === baseLevel) {
        partitionLanguage[f.value] = (partitionLanguage[f.value] || 0) + f.conversations; total += f.conversations;
      }
    });
    Object.keys(partitionLanguage).forEach(function (k) { partitionLanguage[k] = total ? partitionLanguage[k] / total : 0; });
  })();
  var languages = Object.keys(partitionLanguage).sort(function (a, b) {
    if ((a === "Other") !== (b === "Other")) return a === "Other" ? 1 : -1;
    return partitionLanguage[b] - partitionLanguage[a] || (a < b ? -1 : 1);
  });
  function overRep(c, lang) {
    var base = partitionLanguage[lang];
    return base ? facetShare(c, "language", lang) / base : null;
  }

  // Shares of the same (level, name) in earlier partitions: growth and the over-time chart.
  var earlierShares = {};
  DATA.history.forEach(function (h) {
    var key = h.level + "\u0000" + h.name;
    (earlierShares[key] || (earlierShares[key] = [])).push({ date: h.partition_date, share: h.share });
  });
  function seriesOf(c) {
    var earlier = (earlierShares[c.level + "\u0000" + c.name] || []).slice();
    var same = clusters.filter(function (o) { return o.level === c.level && o.name === c.name; });
    var share = same.reduce(function (s, o) { return s + o.share; }, 0);
    earlier.push({ date: DATA.date, share: share });
    return earlier;
  }
  function growthOf(c) {
    var s = seriesOf(c);
    if (s.length < 2) return null;
    var earlier = s.slice(0, -1);
    var mean = earlier.reduce(function (a, p) { return a + p.share; }, 0) / earlier.length;
    return mean > 0 ? s[s.length - 1].share / mean - 1 : null;
  }

  var summary = DATA.summary || {};
  var backend = summary.llm_backend || "";
  // Facets (and concern scores) by the offline heuristics: the offline backend, or a mix whose facets ran offline.
  var offlineFacets = backend === "offline" || backend.indexOf("facets: offline") === 0;
  var heuristic = clusters.some(function (c) { return c.heuristic; }) || backend === "offline";
  // Concern scores: an LLM's, or (offline) the English harm-lexicon heuristic's; none in older offline pages.
  var anyConcern = clusters.some(function (c) { return c.concerning_mean !== null; });
  var DEFAULT_FLOOR = typeof DATA.concern_floor === "number" ? DATA.concern_floor : 2.5;
  function concernMissing() {
    if (!offlineFacets) return "not available";
    return anyConcern ? "not available (the offline heuristic scores English only)" : "not available (offline backend)";
  }
  function validFloor(v) { return typeof v === "number" && isFinite(v) && v >= 1 && v <= 5; }

  /* ------------------------------------------------------------------ state and URL fragment */
  var state = { node: null, view: "map", color: "size", level: baseLevel, sort: "size", q: "", floor: DEFAULT_FLOOR };
  // The analyst's published custom facets (facet_questions) and the values their base-level breakdowns use.
  var customFacets = (DATA.custom_facets || []);
  var customValues = {};
  customFacets.forEach(function (q) {
    var seen = {};
    DATA.facets.forEach(function (f) {
      var c = byId[f.cluster_id];
      if (f.facet === q.facet && c && c.level === baseLevel) seen[f.value] = (seen[f.value] || 0) + f.conversations;
    });
    customValues[q.facet] = Object.keys(seen).sort(function (a, b) { return seen[b] - seen[a] || (a < b ? -1 : 1); });
  });
  var colorOptions = [["size", "Size (conversations)"], ["concern", "Mean concerning score"], ["growth", "Growth vs earlier partitions"]]
    .concat(languages.map(function (l) { return ["language:" + l, "Share of " + l]; }))
    .concat([].concat.apply([], customFacets.filter(function (q) { return q.type === "categorical"; }).map(function (q) {
      return customValues[q.facet].map(function (v) { return ["facet:" + q.facet + "=" + v, q.facet + ": share of " + v]; });
    })));
  var sortOptions = [["size", "size"], ["concern", "mean concern"]]
    .concat(languages.map(function (l) { return ["language:" + l, "share of " + l]; }));
  function validOption(options, v) { return options.some(function (o) { return o[0] === v; }); }

  function readHash() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var next = { node: null, view: "map", color: "size", level: baseLevel, sort: "size", q: "", floor: DEFAULT_FLOOR };
    var floor = parseFloat(params.get("floor"));
    if (validFloor(floor)) next.floor = floor;
    if (params.get("node") && byId[params.get("node")]) next.node = params.get("node");
    if (params.get("view") === "overview") next.view = "overview";
    if (params.get("color") && validOption(colorOptions, params.get("color"))) next.color = params.get("color");
    if (params.get("sort") && validOption(sortOptions, params.get("sort"))) next.sort = params.get("sort");
    var lvl = parseInt(params.get("level"), 10);
    if (levels.indexOf(lvl) >= 0) { next.level = lvl; next.levelGiven = true; }
    if (params.get("q")) next.q = params.get("q");
    return next;
  }
  function writeHash() {
    var parts = [];
    function add(k, v) { parts.push(k + "=" + encodeURIComponent(String(v)).replace(/%3A/g, ":")); }
    if (state.node) add("node", state.node);
    add("view", state.view);
    add("color", state.color);
    add("level", state.level);
    if (state.sort !== "size") add("sort", state.sort);
    if (state.q) add("q", state.q);
    if (state.floor !== DEFAULT_FLOOR) add("floor", state.floor);
    var hash = "#" + parts.join("&");
    if (hash !== location.hash) history.replaceState(null, "", hash);
  }

  /* ------------------------------------------------------------------ header */
  document.title = "Clio explorer: " + DATA.date;
  document.getElementById("page-title").textContent = "Clio explorer: " + DATA.date;
  (function () {
    var i = DATA.partitions.indexOf(DATA.date);
    [["prev-day", DATA.partitions[i - 1]], ["next-day", i >= 0 ? DATA.partitions[i + 1] : undefined]].forEach(function (p) {
      var a = document.getElementById(p[0]);
      if (p[1]) { a.href = p[1] + ".html"; a.querySelector("span").textContent = p[1]; a.hidden = false; }
    });
    var stats = DATA.summary
      ? fmtInt(summary.conversations) + " conversations · " + fmtInt(summary.clusters_published) + " of " +
        fmtInt(summary.clusters_total) + " base clusters published (thresholds: ≥ " + summary.min_unique_users +
        " users and ≥ " + summary.min_conversations + " conversations) · backend: " + backend + " · embeddings: " +
        summary.embedding_model
      : "No summary for this partition.";
    document.getElementById("partition-stats").textContent = stats;
    document.getElementById("heuristic-banner").hidden = !heuristic;
  })();

  /* ------------------------------------------------------------------ tree */
  var treeEl = document.getElementById("tree");
  var itemOf = {};
  var nameSpanOf = {};

  function sortValue(c) {
    if (state.sort === "concern") return c.concerning_mean;
    if (state.sort.indexOf("language:") === 0) return facetShare(c, "language", state.sort.slice(9));
    return c.conversations;
  }
  function sorted(list) {
    return list.slice().sort(function (a, b) {
      var va = sortValue(a), vb = sortValue(b);
      if (va === null && vb !== null) return 1;  // null concern sorts last
      if (vb === null && va !== null) return -1;
      if (va !== vb && va !== null) return vb - va;
      return b.conversations - a.conversations || (a.cluster_id < b.cluster_id ? -1 : 1);
    });
  }
  function metaText(c) {
    var t = fmtInt(c.conversations) + " conv · " + fmtInt(c.unique_users) + " users · " + fmtPct(c.share);
    if (state.sort === "concern") t += " · concern " + (c.concerning_mean === null ? "n/a" : c.concerning_mean.toFixed(2));
    else if (state.sort.indexOf("language:") === 0) t += " · " + state.sort.slice(9) + " " + fmtPct(facetShare(c, "language", state.sort.slice(9)), 0);
    return t;
  }

  function buildItem(c, depth) {
    var li = el("li", { role: "treeitem", id: "ti-" + c.cluster_id, "data-id": c.cluster_id, "aria-level": String(depth),
                        "aria-selected": "false", tabindex: "-1", "aria-labelledby": "tl-" + c.cluster_id });
    var row = el("div", { class: "row" });
    var twisty = el("span", { class: "twisty", "aria-hidden": "true" }, children[c.cluster_id].length ? "▸" : "·");
    var name = el("span", { class: "tname", id: "tl-" + c.cluster_id }, c.name);
    var meta = el("span", { class: "tmeta" }, metaText(c));
    var desc = el("span", { class: "tdesc" }, c.description);
    row.appendChild(twisty); row.appendChild(name); row.appendChild(meta); row.appendChild(desc);
    li.appendChild(row);
    nameSpanOf[c.cluster_id] = name;
    if (children[c.cluster_id].length) {
      li.setAttribute("aria-expanded", "false");
      var group = el("ul", { role: "group" });
      group.hidden = true;
      sorted(children[c.cluster_id]).forEach(function (k) { group.appendChild(buildItem(k, depth + 1)); });
      li.appendChild(group);
    }
    itemOf[c.cluster_id] = li;
    return li;
  }
  sorted(roots).forEach(function (c) { treeEl.appendChild(buildItem(c, 1)); });
  if (!clusters.length) treeEl.appendChild(el("li", { class: "empty", role: "none" }, "No cluster was published for this partition."));
  var firstItem = treeEl.querySelector("li[role=treeitem]");
  if (firstItem) firstItem.tabIndex = 0;

  function setExpanded(id, open) {
    var li = itemOf[id];
    if (!li || !li.hasAttribute("aria-expanded")) return;
    li.setAttribute("aria-expanded", open ? "true" : "false");
    li.querySelector(":scope > ul").hidden = !open;
    li.querySelector(":scope > .row > .twisty").textContent = open ? "▾" : "▸";
  }
  function isExpanded(id) { return itemOf[id] && itemOf[id].getAttribute("aria-expanded") === "true"; }
  function expandAncestors(c) { ancestors(c).forEach(function (a) { setExpanded(a.cluster_id, true); }); }

  function resortTree() {
    function reorder(container, list) {
      sorted(list).forEach(function (c) { container.appendChild(itemOf[c.cluster_id]); });
    }
    reorder(treeEl, roots);
    clusters.forEach(function (c) {
      if (children[c.cluster_id].length) reorder(itemOf[c.cluster_id].querySelector(":scope > ul"), children[c.cluster_id]);
      itemOf[c.cluster_id].querySelector(":scope > .row > .tmeta").textContent = metaText(c);
    });
  }

  function highlight(span, text, q) {
    span.textContent = "";
    var i = q ? text.toLowerCase().indexOf(q.toLowerCase()) : -1;
    if (i < 0) { span.textContent = text; return; }
    span.appendChild(document.createTextNode(text.slice(0, i)));
    span.appendChild(el("mark", null, text.slice(i, i + q.length)));
    span.appendChild(document.createTextNode(text.slice(i + q.length)));
  }
  function applySearch() {
    var q = state.q.trim();
    var status = document.getElementById("search-status");
    if (!q) {
      clusters.forEach(function (c) { itemOf[c.cluster_id].hidden = false; highlight(nameSpanOf[c.cluster_id], c.name, ""); });
      status.textContent = "";
      return;
    }
    var show = {};
    var matches = clusters.filter(function (c) { return c.name.toLowerCase().indexOf(q.toLowerCase()) >= 0; });
    matches.forEach(function (c) {
      show[c.cluster_id] = true;
      ancestors(c).forEach(function (a) { show[a.cluster_id] = true; setExpanded(a.cluster_id, true); });
    });
    clusters.forEach(function (c) {
      itemOf[c.cluster_id].hidden = !show[c.cluster_id];
      highlight(nameSpanOf[c.cluster_id], c.name, matches.indexOf(c) >= 0 ? q : "");
    });
    status.textContent = matches.length + " cluster" + (matches.length === 1 ? "" : "s") + " match “" + q + "”";
  }

  function visibleItems() {
    return Array.prototype.filter.call(treeEl.querySelectorAll("li[role=treeitem]"), function (li) {
      return li.offsetParent !== null;
    });
  }
  function focusItem(li) {
    if (!li) return;
    treeEl.querySelectorAll("li[role=treeitem][tabindex='0']").forEach(function (x) { x.tabIndex = -1; });
    li.tabIndex = 0;
    li.focus();
  }

  treeEl.addEventListener("click", function (e) {
    var li = e.target.closest("li[role=treeitem]");
    if (!li || !e.target.closest(".row")) return;
    var id = li.getAttribute("data-id");
    if (e.target.closest(".twisty")) { setExpanded(id, !isExpanded(id)); focusItem(li); return; }
    focusItem(li);
    select(id, { from: "tree" });
  });
  treeEl.addEventListener("keydown", function (e) {
    var li = e.target.closest("li[role=treeitem]");
    if (!li) return;
    var id = li.getAttribute("data-id");
    var items = visibleItems();
    var i = items.indexOf(li);
    var handled = true;
    switch (e.key) {
      case "ArrowDown": focusItem(items[i + 1]); break;
      case "ArrowUp": focusItem(items[i - 1]); break;
      case "Home": focusItem(items[0]); break;
      case "End": focusItem(items[items.length - 1]); break;
      case "ArrowRight":
        if (li.hasAttribute("aria-expanded") && !isExpanded(id)) setExpanded(id, true);
        else if (isExpanded(id)) focusItem(visibleItems().filter(function (x) { return x.parentElement.parentElement === li; })[0]);
        break;
      case "ArrowLeft":
        if (isExpanded(id)) setExpanded(id, false);
        else if (parentOf(byId[id])) focusItem(itemOf[parentOf(byId[id]).cluster_id]);
        break;
      case "Enter": case " ": select(id, { from: "tree" }); break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  });

  /* ------------------------------------------------------------------ colours */
  var VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
  var DIVERGING = ["#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b"];
  var MISSING = "#a3a3a3";
  function hexToRgb(h) { return [1, 3, 5].map(function (i) { return parseInt(h.slice(i, i + 2), 16); }); }
  function ramp(stops, t) {
    t = Math.max(0, Math.min(1, t));
    var x = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    var a = hexToRgb(stops[i]), b = hexToRgb(stops[i + 1]);
    return "rgb(" + a.map(function (v, k) { return Math.round(v + (b[k] - v) * f); }).join(",") + ")";
  }
  function colorScale(nodes) {
    var c = state.color;
    if (c === "size") {
      var logs = nodes.map(function (n) { return Math.log(n.conversations); });
      var lo = Math.min.apply(null, logs), hi = Math.max.apply(null, logs);
      return { value: function (n) { return n.conversations; },
               fill: function (n) { return ramp(VIRIDIS, hi > lo ? (Math.log(n.conversations) - lo) / (hi - lo) : 0.5); },
               legend: ["fewer conversations", VIRIDIS, "more (log scale)"], fmt: fmtInt, label: "conversations" };
    }
    if (c === "concern") {
      return { value: function (n) { return n.concerning_mean; },
               fill: function (n) { return n.concerning_mean === null ? null : ramp(VIRIDIS, (n.concerning_mean - 1) / 4); },
               legend: ["1 (harmless)", VIRIDIS, "5 (concerning)"], fmt: function (v) { return v.toFixed(2); },
               label: "mean concern" + (offlineFacets ? " (heuristic)" : ""), missing: "grey: " + concernMissing() };
    }
    if (c === "growth") {
      return { value: growthOf,
               fill: function (n) {
                 var g = growthOf(n);
                 return g === null ? null : ramp(DIVERGING, (Math.max(-1, Math.min(1, Math.log2(1 + g))) + 1) / 2);
               },
               legend: ["halved or less", DIVERGING, "doubled or more"],
               fmt: function (v) { return (v >= 0 ? "+" : "") + fmtPct(v, 0); },
               label: "share vs mean of earlier partitions", missing: "grey: no cluster of that name in an earlier partition" };
    }
    // "language:<value>" or "facet:<custom facet>=<value>": the value's share of each cluster's breakdown.
    var facet = "language", lang = c.slice(9);
    if (c.indexOf("facet:") === 0) { facet = c.slice(6, c.indexOf("=")); lang = c.slice(c.indexOf("=") + 1); }
    var max = Math.max.apply(null, nodes.map(function (n) { return facetShare(n, facet, lang); }).concat([1e-9]));
    return { value: function (n) { return facetShare(n, facet, lang); },
             fill: function (n) { return ramp(VIRIDIS, facetShare(n, facet, lang) / max); },
             legend: ["0%", VIRIDIS, fmtPct(max, 0) + " " + lang], fmt: function (v) { return fmtPct(v, 0); },
             label: "share " + lang + (facet === "language" ? "" : " (" + facet + ")") };
  }

  /* ------------------------------------------------------------------ map */
  var svg = document.getElementById("map");
  var gNodes = document.getElementById("map-nodes");
  var gLabels = document.getElementById("map-labels");
  var wrap = document.getElementById("map-wrap");
  var tooltip = document.getElementById("tooltip");
  var view = { k: 1, tx: 0, ty: 0 };
  var size = { w: 600, h: 400 };
  var circleOf = {};
  var mapNodes = [];
  var scale = null;

  function basePos(c) {
    var pad = 40, side = Math.max(10, Math.min(size.w, size.h) - 2 * pad);
    var ox = (size.w - side) / 2, oy = (size.h - side) / 2;
    return [ox + c.x * side, oy + (1 - c.y) * side];
  }
  function radius(c, max) { return (4 + 34 * Math.sqrt(c.conversations / max)) * Math.sqrt(view.k); }

  function drawMap() {
    gNodes.textContent = ""; gLabels.textContent = ""; circleOf = {};
    mapNodes = clusters.filter(function (c) { return c.level === state.level && c.x !== null && c.y !== null; })
      .sort(function (a, b) { return b.conversations - a.conversations; });
    var empty = document.getElementById("map-empty");
    empty.hidden = mapNodes.length > 0;
    if (!mapNodes.length) empty.textContent = "No cluster at this level has a map position.";
    scale = colorScale(mapNodes);
    mapNodes.forEach(function (c) {
      var circle = svgEl("circle", { class: "node", "data-id": c.cluster_id, role: "img", "aria-label": c.name });
      circleOf[c.cluster_id] = circle;
      gNodes.appendChild(circle);
    });
    recolor();
    positionMap();
    markSelection();
    drawLegend();
  }
  function recolor() {
    scale = colorScale(mapNodes);
    mapNodes.forEach(function (c) {
      var fill = scale.fill(c);
      circleOf[c.cluster_id].setAttribute("fill", fill === null ? MISSING : fill);
      circleOf[c.cluster_id].classList.toggle("missing", fill === null);
    });
  }
  function positionMap() {
    if (!mapNodes.length) return;
    var max = mapNodes[0].conversations;
    gLabels.textContent = "";
    var labels = [];
    var labelled = mapNodes.slice(0, 10).map(function (c) { return c.cluster_id; });
    if (state.node && circleOf[state.node] && labelled.indexOf(state.node) < 0) labelled.push(state.node);
    mapNodes.forEach(function (c) {
      var p = basePos(c), r = radius(c, max);
      var cx = view.tx + view.k * p[0], cy = view.ty + view.k * p[1];
      var circle = circleOf[c.cluster_id];
      circle.setAttribute("cx", cx.toFixed(1)); circle.setAttribute("cy", cy.toFixed(1)); circle.setAttribute("r", r.toFixed(1));
      if (labelled.indexOf(c.cluster_id) >= 0) {
        var label = c.name.length > 42 ? c.name.slice(0, 40) + "…" : c.name;
        // Near the left or right edge a label grows inwards instead of being cut off.
        var anchor = cx < size.w * 0.22 ? "start" : cx > size.w * 0.78 ? "end" : "middle";
        var lx = anchor === "start" ? Math.max(4, cx - r) : anchor === "end" ? Math.min(size.w - 4, cx + r) : cx;
        var t = svgEl("text", { x: lx.toFixed(1), y: Math.max(12, cy - r - 4).toFixed(1), "text-anchor": anchor });
        if (c.cluster_id === state.node) t.setAttribute("class", "sel");
        t.textContent = label;
        gLabels.appendChild(t);
        labels.push({ t: t, id: c.cluster_id });
      }
    });
    // Drop labels that would overlap one already placed (the selected node's first, then by size).
    labels.sort(function (a, b) { return (b.id === state.node) - (a.id === state.node); });
    var placed = [];
    labels.forEach(function (l) {
      var b;
      try { b = l.t.getBBox(); } catch (e) { return; }
      var hit = placed.some(function (p) {
        return b.x < p.x + p.width + 2 && p.x < b.x + b.width + 2 && b.y < p.y + p.height && p.y < b.y + b.height;
      });
      if (hit) gLabels.removeChild(l.t); else placed.push(b);
    });
  }
  function markSelection() {
    var related = {};
    if (state.node) {
      var n = byId[state.node];
      ancestors(n).concat(descendants(n)).forEach(function (x) { related[x.cluster_id] = true; });
    }
    mapNodes.forEach(function (c) {
      circleOf[c.cluster_id].classList.toggle("selected", c.cluster_id === state.node);
      circleOf[c.cluster_id].classList.toggle("related", !!related[c.cluster_id]);
    });
    var sel = circleOf[state.node];
    if (sel) gNodes.appendChild(sel); // drawn last, on top
  }
  function drawLegend() {
    var legend = document.getElementById("legend");
    legend.textContent = "";
    if (!scale) return;
    legend.appendChild(el("span", null, scale.legend[0]));
    var bar = svgEl("svg", { width: "140", height: "12", "aria-hidden": "true" });
    scale.legend[1].forEach(function (stop, i, all) {
      bar.appendChild(svgEl("rect", { x: String(i * 140 / all.length), y: "0", width: String(140 / all.length + 0.5), height: "12", fill: stop }));
    });
    legend.appendChild(bar);
    legend.appendChild(el("span", null, scale.legend[2]));
    if (scale.missing) {
      var m = el("span"); m.appendChild(el("span", { class: "swatch", "aria-hidden": "true" })); m.appendChild(document.createTextNode(" " + scale.missing));
      legend.appendChild(m);
    }
    legend.appendChild(el("span", null, "· circle area ∝ conversations · level " + state.level + " · drag to pan, wheel to zoom"));
  }
  function resize() {
    var r = wrap.getBoundingClientRect();
    if (r.width < 10 || r.height < 10) return;
    size = { w: r.width, h: r.height };
    svg.setAttribute("viewBox", "0 0 " + size.w + " " + size.h);
    positionMap();
  }
  if (window.ResizeObserver) new ResizeObserver(resize).observe(wrap);
  window.addEventListener("resize", resize);

  function svgPoint(e) {
    var r = svg.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }
  function zoomAt(factor, px, py) {
    var k = Math.max(0.5, Math.min(40, view.k * factor));
    factor = k / view.k;
    view.tx = px - (px - view.tx) * factor; view.ty = py - (py - view.ty) * factor; view.k = k;
    positionMap();
  }
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var p = svgPoint(e);
    zoomAt(Math.exp(-e.deltaY * 0.0015), p[0], p[1]);
  }, { passive: false });
  document.getElementById("zoom-in").addEventListener("click", function () { zoomAt(1.5, size.w / 2, size.h / 2); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomAt(1 / 1.5, size.w / 2, size.h / 2); });
  document.getElementById("zoom-reset").addEventListener("click", function () { view = { k: 1, tx: 0, ty: 0 }; positionMap(); });

  var drag = null;
  svg.addEventListener("pointerdown", function (e) {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, tx: view.tx, ty: view.ty, moved: false,
             target: e.target.closest ? e.target.closest("circle.node") : null };
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) > 4) { drag.moved = true; svg.classList.add("dragging"); tooltip.hidden = true; }
    if (drag.moved) { view.tx = drag.tx + dx; view.ty = drag.ty + dy; positionMap(); }
  });
  window.addEventListener("pointerup", function () {
    if (!drag) return;
    var d = drag; drag = null; svg.classList.remove("dragging");
    if (!d.moved && d.target) select(d.target.getAttribute("data-id"), { from: "map" });
  });
  svg.addEventListener("pointerover", function (e) {
    var circle = e.target.closest && e.target.closest("circle.node");
    if (!circle || drag) return;
    var c = byId[circle.getAttribute("data-id")];
    tooltip.textContent = "";
    tooltip.appendChild(el("b", null, c.name));
    tooltip.appendChild(el("span", null, fmtInt(c.conversations) + " conversations · " + fmtInt(c.unique_users) + " users · " + fmtPct(c.share)));
    var v = scale.value(c);
    if (state.color !== "size") {
      tooltip.appendChild(el("br"));
      tooltip.appendChild(el("span", null, scale.label + ": " + (v === null ? "n/a" : scale.fmt(v))));
    }
    tooltip.hidden = false;
    var p = svgPoint(e);
    tooltip.style.left = Math.min(p[0] + 14, size.w - 300) + "px";
    tooltip.style.top = Math.max(4, p[1] + 14) + "px";
  });
  svg.addEventListener("pointerout", function (e) {
    if (e.target.closest && e.target.closest("circle.node")) tooltip.hidden = true;
  });

  /* ------------------------------------------------------------------ side panel */
  var panel = document.getElementById("panel");
  function dl(pairs) {
    var d = el("dl", { class: "stats" });
    pairs.forEach(function (p) { d.appendChild(el("dt", null, p[0])); d.appendChild(el("dd", null, p[1])); });
    return d;
  }
  function nodeButton(c, text) {
    var b = el("button", { type: "button", class: "linklike", "data-select": c.cluster_id }, text || c.name);
    b.addEventListener("click", function () { select(c.cluster_id, { from: "panel" }); });
    return b;
  }
  function bars(rows, alt) {
    var box = el("div", { class: "bars" });
    rows.forEach(function (r) {
      box.appendChild(el("span", null, r.label));
      var bar = el("div", { class: "bar" + (alt ? " alt" : ""), role: "img", "aria-label": r.label + " " + fmtPct(r.share) });
      var fill = el("span"); fill.style.width = (100 * r.share).toFixed(1) + "%"; bar.appendChild(fill);
      box.appendChild(bar);
      var right = el("span", { class: "over" + (r.hi ? " hi" : "") }, r.right);
      if (r.title) right.title = r.title;
      box.appendChild(right);
    });
    return box;
  }
  function shareChart(series) {
    var W = 300, H = 110, L = 40, R = 10, T = 10, B = 24;
    var chart = svgEl("svg", { class: "chart", width: String(W), height: String(H), viewBox: "0 0 " + W + " " + H,
                               role: "img", "aria-label": "Share of this cluster's name over partitions: " +
                               series.map(function (p) { return p.date + " " + fmtPct(p.share); }).join(", ") });
    var dates = DATA.partitions.filter(function (d) { return d <= DATA.date; });
    if (dates.indexOf(DATA.date) < 0) dates.push(DATA.date);
    var max = Math.max.apply(null, series.map(function (p) { return p.share; }).concat([1e-6])) * 1.15;
    function X(d) { var i = dates.indexOf(d); return dates.length < 2 ? (L + W - R) / 2 : L + i * (W - L - R) / (dates.length - 1); }
    function Y(s) { return T + (1 - s / max) * (H - T - B); }
    chart.appendChild(svgEl("line", { x1: String(L), y1: String(H - B), x2: String(W - R), y2: String(H - B), stroke: "#d6dae1" }));
    [0, max / 1.15].forEach(function (v) {
      var t = svgEl("text", { x: String(L - 4), y: String(Y(v) + 3), "text-anchor": "end" }); t.textContent = fmtPct(v, 1); chart.appendChild(t);
    });
    [dates[0], dates[dates.length - 1]].forEach(function (d, i) {
      var t = svgEl("text", { x: String(X(d)), y: String(H - 8), "text-anchor": i ? "end" : "start" }); t.textContent = d; chart.appendChild(t);
    });
    var pts = series.filter(function (p) { return dates.indexOf(p.date) >= 0; });
    if (pts.length > 1) {
      chart.appendChild(svgEl("polyline", { fill: "none", stroke: "#2454c5", "stroke-width": "2",
        points: pts.map(function (p) { return X(p.date).toFixed(1) + "," + Y(p.share).toFixed(1); }).join(" ") }));
    }
    pts.forEach(function (p) {
      var dot = svgEl("circle", { cx: X(p.date).toFixed(1), cy: Y(p.share).toFixed(1), r: p.date === DATA.date ? "4.5" : "3",
                                  fill: p.date === DATA.date ? "#111827" : "#2454c5" });
      var title = svgEl("title"); title.textContent = p.date + ": " + fmtPct(p.share, 2); dot.appendChild(title);
      chart.appendChild(dot);
    });
    return chart;
  }
  function renderPanel() {
    panel.textContent = "";
    var c = state.node ? byId[state.node] : null;
    if (!c) { panel.appendChild(el("p", { class: "muted" }, "Select a cluster in the tree or on the map.")); return; }
    panel.appendChild(el("h2", { id: "panel-name" }, c.name));
    var idline = el("p", { class: "idline" }, c.cluster_id + " · level " + c.level + (c.level === baseLevel ? " (base)" : ""));
    var parent = parentOf(c);
    if (parent) { idline.appendChild(document.createTextNode(" · parent: ")); idline.appendChild(nodeButton(parent)); }
    panel.appendChild(idline);
    panel.appendChild(el("p", { class: "desc" }, c.description));
    var concern = c.concerning_mean === null
      ? concernMissing()
      : c.concerning_mean.toFixed(2) + " (1 harmless … 5 concerning)" + (offlineFacets ? "; heuristic lexicon score" : "");
    var growth = growthOf(c);
    panel.appendChild(dl([
      ["conversations", fmtInt(c.conversations)],
      ["unique users", fmtInt(c.unique_users)],
      ["share of partition", fmtPct(c.share, 2)],
      ["mean turns", c.mean_turns.toFixed(1)],
      ["mean concern", concern],
      ["growth", growth === null ? "no earlier partition with this name" : (growth >= 0 ? "+" : "") + fmtPct(growth, 0) + " vs earlier mean"],
      ["names", c.naming_method + (c.heuristic ? " (heuristic)" : "")],
    ]));

    panel.appendChild(el("h3", null, "Languages"));
    var lang = (facetsOf[c.cluster_id] || {}).language || {};
    var total = Object.keys(lang).reduce(function (s, k) { return s + lang[k]; }, 0);
    var langRows = Object.keys(lang).sort(function (a, b) { return lang[b] - lang[a]; }).map(function (k) {
      var ratio = overRep(c, k);
      return { label: k, share: total ? lang[k] / total : 0, hi: ratio !== null && ratio >= 1.5,
               right: fmtPct(total ? lang[k] / total : 0, 0) + (ratio === null ? "" : " · ×" + ratio.toFixed(2)),
               title: "share in this cluster ÷ share in the whole partition (" + fmtPct(partitionLanguage[k] || 0) + ")" };
    });
    if (langRows.length) {
      panel.appendChild(bars(langRows));
      panel.appendChild(el("p", { class: "note" }, "×: over-representation = the language's share in this cluster ÷ its share in the whole partition (base-level clusters). Values used by too few users are pooled into “Other”."));
    } else panel.appendChild(el("p", { class: "muted" }, "No language breakdown published."));

    panel.appendChild(el("h3", null, "Turns per conversation"));
    var turns = (facetsOf[c.cluster_id] || {}).turns || {};
    var order = ["1-2", "3-4", "5-8", "9+"];
    var tKeys = Object.keys(turns).sort(function (a, b) {
      var ia = order.indexOf(a), ib = order.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    });
    var tTotal = tKeys.reduce(function (s, k) { return s + turns[k]; }, 0);
    if (tKeys.length) panel.appendChild(bars(tKeys.map(function (k) {
      return { label: k + (order.indexOf(k) >= 0 ? " turns" : ""), share: tTotal ? turns[k] / tTotal : 0, right: fmtInt(turns[k]) };
    }), true));
    else panel.appendChild(el("p", { class: "muted" }, "No turns breakdown published."));

    panel.appendChild(el("h3", null, "Concerning score"));
    var concernCounts = (facetsOf[c.cluster_id] || {}).concerning || {};
    var cKeys = Object.keys(concernCounts).sort();
    var cTotal = cKeys.reduce(function (s, k) { return s + concernCounts[k]; }, 0);
    if (cKeys.length) panel.appendChild(bars(cKeys.map(function (k) {
      return { label: /^[1-5]$/.test(k) ? k + " / 5" : k, share: cTotal ? concernCounts[k] / cTotal : 0,
               right: fmtInt(concernCounts[k]) };
    }), true));
    else panel.appendChild(el("p", { class: "muted" }, offlineFacets && !anyConcern
      ? "Not available: the offline backend has no concern model." : "No concern breakdown published."));

    customFacets.forEach(function (q) {
      panel.appendChild(el("h3", null, q.facet));
      panel.appendChild(el("p", { class: "note" }, q.question + (backend === "offline" ? " (heuristic offline answers: rules or nearest value)" : "")));
      var counts = (facetsOf[c.cluster_id] || {})[q.facet] || {};
      var keys = Object.keys(counts).sort(function (a, b) {
        if (q.type === "numeric" && !isNaN(+a) && !isNaN(+b)) return +a - +b;
        return counts[b] - counts[a] || (a < b ? -1 : 1);
      });
      var sum = keys.reduce(function (s, k) { return s + counts[k]; }, 0);
      if (keys.length) panel.appendChild(bars(keys.map(function (k) {
        return { label: k, share: sum ? counts[k] / sum : 0, right: fmtPct(sum ? counts[k] / sum : 0, 0) + " · " + fmtInt(counts[k]) };
      }), true));
      else panel.appendChild(el("p", { class: "muted" }, "No answers in this cluster."));
    });

    panel.appendChild(el("h3", null, "Share over partitions (same name)"));
    var series = seriesOf(c);
    panel.appendChild(shareChart(series));
    if (series.length < 2) panel.appendChild(el("p", { class: "note" }, "No cluster of this name at level " + c.level + " in an earlier partition."));

    if (children[c.cluster_id].length) {
      panel.appendChild(el("h3", null, "Children (" + children[c.cluster_id].length + ")"));
      var ul = el("ul", { class: "kids" });
      sorted(children[c.cluster_id]).forEach(function (k) {
        var li = el("li"); li.appendChild(nodeButton(k)); li.appendChild(document.createTextNode(" · " + fmtInt(k.conversations) + " conv"));
        ul.appendChild(li);
      });
      panel.appendChild(ul);
    }
  }

  /* ------------------------------------------------------------------ overview tab */
  var overview = document.getElementById("overview");
  var overviewLang = languages.filter(function (l) { return l !== "English" && l !== "Other"; })[0] || languages[0];
  function renderOverview() {
    overview.textContent = "";
    overview.appendChild(el("h2", null, "Partition " + DATA.date));
    if (DATA.summary) {
      overview.appendChild(dl([
        ["conversations", fmtInt(summary.conversations)],
        ["base clusters published", fmtInt(summary.clusters_published) + " of " + fmtInt(summary.clusters_total)],
        ["conversations in published clusters", fmtInt(summary.conversations_in_published)],
        ["suppressed: too few users", fmtInt(summary.suppressed_min_users)],
        ["suppressed: too few conversations", fmtInt(summary.suppressed_min_conversations)],
        ["suppressed by the privacy auditor", fmtInt(summary.suppressed_audit)],
        ["published under a generic name", fmtInt(summary.published_generic_name)],
        ["thresholds", "≥ " + summary.min_unique_users + " users and ≥ " + summary.min_conversations + " conversations"],
        ["backend", backend + (backend === "offline"
          ? (anyConcern ? " (heuristic names and concern scores)" : " (heuristic names, no concern scores)")
          : offlineFacets ? " (heuristic facets and concern scores)" : "")],
      ]));
    }
    renderConcerning();
    overview.appendChild(el("h3", null, "Languages in the partition"));
    overview.appendChild(bars(languages.map(function (l) {
      return { label: l, share: partitionLanguage[l], right: fmtPct(partitionLanguage[l]) };
    })));
    if (!languages.length) return;
    overview.appendChild(el("h3", null, "Language over-representation by cluster"));
    var label = el("label", null, "Language ");
    var pick = el("select", { id: "overview-language" });
    languages.forEach(function (l) { var o = el("option", { value: l }, l); if (l === overviewLang) o.selected = true; pick.appendChild(o); });
    pick.addEventListener("change", function () { overviewLang = pick.value; renderOverview(); });
    label.appendChild(pick);
    overview.appendChild(label);
    overview.appendChild(el("p", { class: "note" }, "Clusters at level " + state.level + ", by the share of " + overviewLang +
      " in the cluster ÷ its share in the whole partition (" + fmtPct(partitionLanguage[overviewLang] || 0) + "). Click a row to select the cluster."));
    var table = el("table", { class: "grid" });
    var head = el("tr");
    ["cluster", "conversations", "share " + overviewLang, "over-representation"].forEach(function (h, i) {
      head.appendChild(el("th", { scope: "col", class: i ? "num" : "" }, h));
    });
    var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    var tbody = el("tbody");
    clusters.filter(function (c) { return c.level === state.level; })
      .map(function (c) { return { c: c, r: overRep(c, overviewLang) || 0 }; })
      .sort(function (a, b) { return b.r - a.r || b.c.conversations - a.c.conversations; })
      .forEach(function (row) {
        var tr = el("tr", { class: "clickable", "data-id": row.c.cluster_id });
        tr.appendChild(el("td", null, row.c.name));
        tr.appendChild(el("td", { class: "num" }, fmtInt(row.c.conversations)));
        tr.appendChild(el("td", { class: "num" }, fmtPct(facetShare(row.c, "language", overviewLang), 0)));
        tr.appendChild(el("td", { class: "num" }, "×" + row.r.toFixed(2)));
        tr.addEventListener("click", function () { select(row.c.cluster_id, { from: "overview" }); });
        tbody.appendChild(tr);
      });
    table.appendChild(tbody);
    overview.appendChild(table);
  }

  /* ------------------------------------------------------------------ concerning clusters (overview tab) */
  function highConcernShare(c) {
    var counts = (facetsOf[c.cluster_id] || {}).concerning || {};
    var total = 0, high = 0;
    Object.keys(counts).forEach(function (k) { total += counts[k]; if (k === "4" || k === "5") high += counts[k]; });
    return total ? high / total : null;
  }
  function renderConcerning() {
    overview.appendChild(el("h3", { id: "concerning-h" }, "Concerning clusters"));
    var label = el("label", null, "Mean concern at least ");
    var input = el("input", { type: "number", id: "concern-floor", min: "1", max: "5", step: "0.25", value: String(state.floor) });
    input.addEventListener("change", function () {
      var v = parseFloat(input.value);
      if (!validFloor(v)) { input.value = String(state.floor); return; }
      state.floor = v; renderOverview(); writeHash();
      var again = document.getElementById("concern-floor");
      if (again) again.focus();
    });
    label.appendChild(input);
    overview.appendChild(label);
    if (!anyConcern) {
      overview.appendChild(el("p", { class: "muted", id: "concerning-empty" }, "No concern scores in this partition" +
        (offlineFacets ? " (built by the offline backend before it scored concern)." : ".")));
      return;
    }
    var list = clusters.filter(function (c) { return c.concerning_mean !== null && c.concerning_mean >= state.floor; })
      .sort(function (a, b) {
        return b.concerning_mean - a.concerning_mean || b.level - a.level || b.conversations - a.conversations ||
          (a.cluster_id < b.cluster_id ? -1 : 1);
      });
    overview.appendChild(el("p", { class: "note", id: "concerning-note" }, list.length + " published cluster" +
      (list.length === 1 ? "" : "s") + " (all levels) with a mean concerning score of at least " + state.floor +
      " (1 harmless … 5 extremely concerning)" + (offlineFacets
        ? "; scores from the offline heuristic (an English harm lexicon), not an LLM." : ".") + " Click a row to select the cluster."));
    if (!list.length) return;
    var table = el("table", { class: "grid", id: "concerning-table" });
    var head = el("tr");
    ["level", "cluster", "conversations", "mean concern", "scored 4–5"].forEach(function (h, i) {
      head.appendChild(el("th", { scope: "col", class: i === 1 ? "" : "num" }, h));
    });
    var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    var tbody = el("tbody");
    list.forEach(function (c) {
      var tr = el("tr", { class: "clickable", "data-id": c.cluster_id });
      var high = highConcernShare(c);
      tr.appendChild(el("td", { class: "num" }, String(c.level)));
      tr.appendChild(el("td", null, c.name));
      tr.appendChild(el("td", { class: "num" }, fmtInt(c.conversations)));
      tr.appendChild(el("td", { class: "num" }, c.concerning_mean.toFixed(2)));
      tr.appendChild(el("td", { class: "num" }, high === null ? "–" : fmtPct(high, 0)));
      tr.addEventListener("click", function () { select(c.cluster_id, { from: "overview" }); });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    overview.appendChild(table);
  }

  /* ------------------------------------------------------------------ controls */
  function fillSelect(id, options, value) {
    var s = document.getElementById(id);
    s.textContent = "";
    options.forEach(function (o) { var opt = el("option", { value: String(o[0]) }, o[1]); s.appendChild(opt); });
    s.value = String(value);
    return s;
  }
  var levelSelect = fillSelect("level", levels.map(function (l) {
    var n = clusters.filter(function (c) { return c.level === l; }).length;
    return [l, "level " + l + (l === baseLevel ? " (base)" : l === levels[levels.length - 1] ? " (top)" : "") + " · " + n];
  }), state.level);
  var colorSelect = fillSelect("color", colorOptions, state.color);
  var sortSelect = fillSelect("sort", sortOptions, state.sort);
  var searchInput = document.getElementById("search");
  levelSelect.addEventListener("change", function () { state.level = parseInt(levelSelect.value, 10); drawMap(); renderOverview(); writeHash(); });
  colorSelect.addEventListener("change", function () { state.color = colorSelect.value; recolor(); drawLegend(); writeHash(); });
  sortSelect.addEventListener("change", function () { state.sort = sortSelect.value; resortTree(); writeHash(); });
  searchInput.addEventListener("input", function () { state.q = searchInput.value; applySearch(); writeHash(); });
  document.getElementById("expand-all").addEventListener("click", function () { clusters.forEach(function (c) { setExpanded(c.cluster_id, true); }); });
  document.getElementById("collapse-all").addEventListener("click", function () { clusters.forEach(function (c) { setExpanded(c.cluster_id, false); }); });

  var tabs = { map: document.getElementById("tab-map"), overview: document.getElementById("tab-overview") };
  function showView(name) {
    state.view = name;
    Object.keys(tabs).forEach(function (k) {
      tabs[k].setAttribute("aria-selected", k === name ? "true" : "false");
      tabs[k].tabIndex = k === name ? 0 : -1;
      document.getElementById("view-" + k).hidden = k !== name;
    });
    if (name === "map") resize();
  }
  Object.keys(tabs).forEach(function (k) {
    tabs[k].addEventListener("click", function () { showView(k); writeHash(); });
    tabs[k].addEventListener("keydown", function (e) {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      var next = k === "map" ? "overview" : "map";
      showView(next); tabs[next].focus(); writeHash(); e.preventDefault();
    });
  });

  /* ------------------------------------------------------------------ selection */
  function select(id, opts) {
    opts = opts || {};
    var c = byId[id];
    if (!c) return;
    state.node = id;
    clusters.forEach(function (o) { itemOf[o.cluster_id].setAttribute("aria-selected", o.cluster_id === id ? "true" : "false"); });
    expandAncestors(c);
    if (itemOf[id].hidden) { state.q = ""; searchInput.value = ""; applySearch(); }
    // A node chosen outside the map is shown at its own level when it has a position.
    if (opts.from !== "map" && !(opts.from === "hash" && opts.levelGiven) && c.level !== state.level && c.x !== null && c.y !== null) {
      state.level = c.level; levelSelect.value = String(c.level); drawMap();
    } else { markSelection(); positionMap(); }
    if (opts.from !== "tree") {
      var row = itemOf[id].querySelector(":scope > .row");
      if (row.scrollIntoView) row.scrollIntoView({ block: "nearest" });
      treeEl.querySelectorAll("li[role=treeitem][tabindex='0']").forEach(function (x) { x.tabIndex = -1; });
      itemOf[id].tabIndex = 0;
    }
    renderPanel();
    if (!opts.silent) writeHash();
  }

  function applyState(next) {
    state.view = next.view; state.color = next.color; state.sort = next.sort; state.level = next.level; state.q = next.q;
    state.floor = next.floor;
    colorSelect.value = state.color; sortSelect.value = state.sort; levelSelect.value = String(state.level); searchInput.value = state.q;
    resortTree();
    applySearch();
    showView(state.view);
    drawMap();
    renderOverview();
    if (next.node) select(next.node, { from: "hash", silent: true, levelGiven: next.levelGiven });
    else { state.node = null; renderPanel(); markSelection(); }
    writeHash();
  }
  window.addEventListener("hashchange", function () { applyState(readHash()); });
  applyState(readHash());
  resize();

  /* ------------------------------------------------------------------ index page */
  function initIndex() {
    var input = document.getElementById("topic-filter");
    if (!input) return;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      document.querySelectorAll("#topic-table tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.getAttribute("data-name").indexOf(q) < 0;
      });
    });
  }
})();
